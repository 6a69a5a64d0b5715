"""Application security groups: list, get, PUT, PATCH (tags), DELETE (refused while a rule references it)."""

from __future__ import annotations

from typing import Any

from .errors import bad_request
from .model import ASG_TYPE, Asg, Request, Response, key_of
from .resources import Handlers, read_properties, render_top_level
from .rule_validation import rule_asg_ids
from .store import in_group


def render_asg(asg: Asg) -> dict[str, Any]:
    return render_top_level(asg, ASG_TYPE, {"provisioningState": asg.state, "resourceGuid": asg.guid})


class AsgHandlers(Handlers):
    routes = ("asg_list_sub", "asg_list", "asg")

    def asg_list_sub_get(self, req: Request, sub: str) -> Response:
        return self.page(req, [render_asg(a) for a in in_group(self.store.asgs, sub)])

    def asg_list_get(self, req: Request, sub: str, rg: str) -> Response:
        return self.page(req, [render_asg(a) for a in in_group(self.store.asgs, sub, rg)])

    def asg_get(self, req: Request, sub: str, rg: str, asg: str) -> Response:
        return 200, {}, render_asg(self.store.get(self.store.asgs, ASG_TYPE, sub, rg, asg))

    def asg_put(self, req: Request, sub: str, rg: str, asg: str) -> Response:
        start, existing = self.begin_put(req, self.store.asgs, sub, rg, asg)
        read_properties(start.body, "application security group")  # checked, nothing in it is kept
        target = existing or Asg(sub, rg, asg, start.location, start.tags)
        status, headers = self.end_put(req, self.store.asgs, start, target, existed=existing is not None, targets=[])
        return status, headers, render_asg(target)

    def asg_patch(self, req: Request, sub: str, rg: str, asg: str) -> Response:
        target = self.patch_tags(req, lambda: self.store.get(self.store.asgs, ASG_TYPE, sub, rg, asg))
        return 200, {}, render_asg(target)

    def _refuse_if_referenced(self, target: Asg) -> None:
        """Azure refuses to delete an ASG that a security rule or a NIC's IP configuration still references."""
        wanted = target.id.lower()
        users = [
            f"{nsg.id}/securityRules/{rule.name}"
            for nsg in self.store.nsgs.values()
            for rule in nsg.rules.values()
            if wanted in {x.lower() for x in rule_asg_ids(rule.props)}
        ]
        if users:
            raise bad_request(
                "InUseApplicationSecurityGroupCannotBeDeleted",
                f"Application Security Group {target.id} cannot be deleted because it is referenced by security "
                f"rule(s) {', '.join(users)}.",
            )
        members = [nic.ip_config_id(config) for nic, config in self.store.ip_configs_using(asg_id=target.id)]
        if members:
            # Message as quoted in Azure/azure-cli#12591 (there with the ASG's and IP configuration's names; ids
            # here, as in Azure's other in-use messages); the code was not shown there (same one as above).
            raise bad_request(
                "InUseApplicationSecurityGroupCannotBeDeleted",
                f"Application Security Group {target.name} cannot be deleted because it is referenced by "
                f"IpConfiguration(s) {', '.join(members)}.",
            )

    def asg_delete(self, req: Request, sub: str, rg: str, asg: str) -> Response:
        return self.delete(req, sub, self.store.asgs, key_of(sub, rg, asg), in_use=self._refuse_if_referenced)
