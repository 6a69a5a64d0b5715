"""Network security groups: list, get, PUT (which replaces the whole rule set), PATCH (tags), DELETE."""

from __future__ import annotations

from typing import Any

from .errors import bad_request
from .model import NSG_TYPE, Nsg, Request, Response, Rule, key_of
from .resources import Handlers, read_properties, render_top_level
from .rule_validation import check_rule_set, rule_asg_ids, validate_rule
from .security_rules import render_default_rules, render_rule
from .store import in_group
from .validation import validate_name


class NsgHandlers(Handlers):
    routes = ("nsg_list_sub", "nsg_list", "nsg")

    def render(self, nsg: Nsg) -> dict[str, Any]:
        props: dict[str, Any] = {
            "provisioningState": nsg.state,
            "resourceGuid": nsg.guid,
            "flushConnection": nsg.flush_connection,
            "securityRules": [render_rule(nsg, r) for r in nsg.rules.values()],
            "defaultSecurityRules": render_default_rules(nsg),
        }
        nics = self.store.nsg_nics(nsg)
        if nics:
            props["networkInterfaces"] = [{"id": n} for n in nics]
        subnets = self.store.nsg_subnets(nsg)
        if subnets:
            props["subnets"] = [{"id": s} for s in subnets]
        return render_top_level(nsg, NSG_TYPE, props)

    def nsg_list_sub_get(self, req: Request, sub: str) -> Response:
        return self.page(req, [self.render(n) for n in in_group(self.store.nsgs, sub)])

    def nsg_list_get(self, req: Request, sub: str, rg: str) -> Response:
        return self.page(req, [self.render(n) for n in in_group(self.store.nsgs, sub, rg)])

    def nsg_get(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        return 200, {}, self.render(self.store.get(self.store.nsgs, NSG_TYPE, sub, rg, nsg))

    def _inline_rules(self, raw_rules: Any, target: Nsg, location: str) -> list[tuple[str, dict[str, Any]]]:
        """Validate ``properties.securityRules`` of an NSG PUT: (name, canonical properties) in order."""
        if raw_rules is None:
            raw_rules = []
        if not isinstance(raw_rules, list):
            raise bad_request("InvalidRequestContent", "properties.securityRules must be a JSON array.")
        new_rules: list[tuple[str, dict[str, Any]]] = []
        for i, raw in enumerate(raw_rules):
            if not isinstance(raw, dict):
                raise bad_request("InvalidRequestContent", f"properties.securityRules[{i}] must be a JSON object.")
            name = raw.get("name")
            if not isinstance(name, str):
                name = ""
            validate_name(name)
            rule_id = f"{target.id}/securityRules/{name}"
            canonical = validate_rule(
                raw.get("properties"),
                rule_id=rule_id,
                path=f"properties.securityRules[{i}].properties",
                resolve_asg=self.store.asg_resolver(location=location, referrer=rule_id),
            )
            self.store.check_rule_asg_vnets(rule_id, rule_asg_ids(canonical))
            new_rules.append((name, canonical))
        check_rule_set(new_rules, target.id)
        return new_rules

    def nsg_put(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        start, existing = self.begin_put(req, self.store.nsgs, sub, rg, nsg)
        props = read_properties(start.body, "network security group")
        target = existing or Nsg(sub, rg, nsg, start.location, start.tags)
        new_rules = self._inline_rules(props.get("securityRules"), target, start.location)
        target.flush_connection = bool(props.get("flushConnection", False))
        target.rules = {name.lower(): Rule(name, p, "Updating") for name, p in new_rules}
        status, headers = self.end_put(
            req, self.store.nsgs, start, target, existed=existing is not None, targets=list(target.rules.values())
        )
        return status, headers, self.render(target)

    def nsg_patch(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        target = self.patch_tags(req, lambda: self.store.get(self.store.nsgs, NSG_TYPE, sub, rg, nsg))
        return 200, {}, self.render(target)

    def _refuse_if_associated(self, target: Nsg) -> None:
        users = self.store.nsg_nics(target) + self.store.nsg_subnets(target)
        if users:
            raise bad_request(
                "InUseNetworkSecurityGroupCannotBeDeleted",
                f"Network security group {target.id} cannot be deleted because it is in use by the following "
                f"resources: {', '.join(users)}. In order to delete the Network security group, remove the "
                "association with the resource(s). To learn how to do this, see aka.ms/deletensg.",
            )

    def nsg_delete(self, req: Request, sub: str, rg: str, nsg: str) -> Response:
        return self.delete(req, sub, self.store.nsgs, key_of(sub, rg, nsg), in_use=self._refuse_if_associated)
