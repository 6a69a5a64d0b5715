"""Live Azure state, read into the same model the builder produces (AzureState / NsgRule / Asg).

What cloudports owns is exactly what carries the tag ``cloudports:topology=<name>`` in the resource group: the
NSG(s) and the ASGs (each ASG's role comes from its ``cloudports:role`` tag). The security rules of the spec's
NSGs (one, or one per subnet) are normalised (normalise.py) the way built rules are written. Default rules are
never listed, so never compared.

Subnets the spec names are read one by one (GET) to see which NSG they are associated with. What is read comes
through RgReads: Resource Manager itself, or in a fleet command one read of the resource group that every spec in
it shares (snapshot.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from cloudports.errors import CloudportsError, Diagnostic
from cloudports.targets.azure.arm import ArmSettings, arm_errors
from cloudports.targets.azure.members import nic_from, resource_groups
from cloudports.targets.azure.model import Asg, AzureState, LiveAsg, LiveNsg, LiveState, Nic, NsgRule, SubnetRef
from cloudports.targets.azure.normalise import normalise_rule
from cloudports.targets.ownership import ROLE_TAG, SPEC_TAG, NameConflicts, claim, is_mine

_RUNNING = ("updating", "deleting", "creating")


def running(resource: Any) -> bool:
    """A write on it has not finished (a killed run's, or anyone's): what is read may still change."""
    state = getattr(resource, "provisioning_state", None) or ""
    return str(getattr(state, "value", state)).lower() in _RUNNING


def _tags(resource: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (getattr(resource, "tags", None) or {}).items()}


_RENAME_HINT = (
    "rename or delete it, give this topology another name (or targets.azure.nsg_name), or use another resource group"
)


class RgReads:
    """The listings of one resource group a spec's live state is made of, asked of Resource Manager when called
    (one spec, apply). snapshot.py's RgSnapshot answers them from one read shared by the specs of a fleet command;
    `since` (time.monotonic()): only a read started then or later will do (here every read is one)."""

    def __init__(self, client: Any, resource_group: str):
        self.client = client
        self.rg = resource_group

    def asgs(self, since: float | None = None) -> list[Any]:
        with arm_errors("listing application security groups in", self.rg):
            return list(self.client.application_security_groups.list(self.rg))

    def nsgs(self, since: float | None = None) -> list[Any]:
        with arm_errors("listing network security groups in", self.rg):
            return list(self.client.network_security_groups.list(self.rg))

    def subnet(self, rg: str, vnet: str, name: str, since: float | None = None) -> Any | None:
        """The subnet, or None when there is no such subnet."""
        with arm_errors("reading subnet", f"{vnet}/{name} in {rg}"):
            try:
                return self.client.subnets.get(rg, vnet, name)
            except ResourceNotFoundError:
                return None

    def nics(self, rg: str, since: float | None = None) -> list[Any]:
        with arm_errors("listing network interfaces in", rg):
            return list(self.client.network_interfaces.list(rg))


class Reader:
    """Reads what cloudports owns for one topology in one resource group (through `reads`: by default Resource
    Manager itself; `since`: see RgReads)."""

    def __init__(
        self,
        client: Any,
        settings: ArmSettings,
        desired: AzureState,
        reads: RgReads | None = None,
        since: float | None = None,
    ):
        self.client = client
        self.settings = settings
        self.desired = desired
        self.reads = reads or RgReads(client, settings.resource_group)
        self.since = since

    @property
    def rg(self) -> str:
        return self.settings.resource_group

    @property
    def identity(self) -> str:
        """This spec's spec_identity(), as its resources are tagged."""
        return self.desired.tags[SPEC_TAG]

    def mine(self, tags: dict[str, str]) -> bool:
        """Tagged for this spec (or, written by an older cloudports, for this topology without a spec tag)."""
        return is_mine(tags, self.desired.topology, self.identity)

    def read(self, conflicts: NameConflicts = "error", destroying: bool = False, machines: bool = False) -> LiveState:
        problems: list[Diagnostic] = []
        raw_asgs = self.reads.asgs(self.since)
        asgs = self._asgs(raw_asgs, conflicts, problems)
        busy = [f"application security group {a.name}" for a in raw_asgs if running(a)]
        nsgs, raw_nsgs, others = self._nsgs(conflicts, problems, busy)
        if problems:
            raise CloudportsError(problems)
        rules: dict[str, dict[str, NsgRule]] = {}
        roles_by_id = {a.id.lower(): a.key for a in asgs.values()}
        for name, raw_nsg in raw_nsgs.items():
            # The listing carries each NSG's rules inline: no securityRules paging (drift at 2 requests + subnets).
            rules[name] = {}
            for raw in raw_nsg.security_rules or []:
                rule = normalise_rule(raw, roles_by_id)
                rules[name][rule.name] = rule
                busy += [f"rule {rule.name} in {name}"] if running(raw) else []
        live = LiveState(self._state(rules, asgs), nsgs, others, asgs, self.read_subnets(), tuple(busy))
        # Membership is at stake when a role has members, or an ASG is to be deleted (it must leave every NIC);
        # `machines`: asked for (query --live about a machine).
        if machines or self.desired.members or destroying or any(key not in self.desired.asgs for key in asgs):
            live.state.machines, busy_nics = self.read_nics()
            live.busy += tuple(busy_nics)
        return live

    def read_nics(self) -> tuple[dict[str, Nic], list[str]]:
        """(the NICs of the spec's resource group and of any other a role's members name, the busy ones)."""
        nics: dict[str, Nic] = {}
        busy = []
        for rg in resource_groups(self.desired, self.rg):
            for raw in self.reads.nics(rg, self.since):
                nics[str(raw.id).lower()] = nic_from(raw, rg)
                busy += [f"network interface {raw.name}"] if running(raw) else []
        return dict(sorted(nics.items())), busy

    def _state(self, rules: dict[str, dict[str, NsgRule]], asgs: dict[str, LiveAsg]) -> AzureState:
        """What was read, in the model the builder produces: the spec's NSGs that exist, with their rules."""
        d = self.desired
        return AzureState(
            topology=d.topology,
            location=d.location,
            resource_group=self.rg,
            tags=d.tags,
            asgs={key: Asg(key, a.name, tuple(sorted(a.tags.items()))) for key, a in asgs.items()},
            nsgs={
                name: replace(nsg, rules=dict(sorted(rules[name].items())), rule_origins={})
                for name, nsg in d.nsgs.items()
                if name in rules
            },
            egress=d.egress,
            asg_ids={key: a.id.lower() for key, a in asgs.items()},
        )

    def _nsgs(
        self, conflicts: NameConflicts, problems: list[Diagnostic], busy: list[str]
    ) -> tuple[dict[str, LiveNsg], dict[str, Any], list[LiveNsg]]:
        """(the spec's NSGs that are ours or adopted, as read and as listed, by the spec's name for them; other
        NSGs tagged for this topology)."""
        raw_nsgs = self.reads.nsgs(self.since)
        busy += [f"network security group {n.name}" for n in raw_nsgs if running(n)]
        declared = {name.lower(): name for name in self.desired.nsgs}
        nsgs, listed, others = {}, {}, []
        for raw in sorted(raw_nsgs, key=lambda n: str(n.name).lower()):
            tags = _tags(raw)
            name = declared.get(str(raw.name).lower())
            if name is None:
                # e.g. after nsg_name or the subnets changed; another spec's NSG is never one of these
                others += [self._nsg(raw)] if self.mine(tags) else []
                continue
            what = f"network security group {raw.name} in {self.rg}"
            verdict = claim("azure", what, tags, self.identity, conflicts, _RENAME_HINT)
            if verdict.problem:
                problems.append(verdict.problem)
            elif verdict.verdict in ("mine", "adopt"):
                nsgs[name], listed[name] = self._nsg(raw, adopt=verdict.verdict == "adopt"), raw
        return nsgs, listed, others

    def _nsg(self, raw: Any, adopt: bool = False) -> LiveNsg:
        subnets = tuple(str(s.id) for s in (getattr(raw, "subnets", None) or []) if getattr(s, "id", None))
        rules = len(getattr(raw, "security_rules", None) or [])
        return LiveNsg(str(raw.name), str(raw.id), str(raw.location or ""), _tags(raw), subnets, rules, adopt)

    def _asgs(self, raw_asgs: list[Any], conflicts: NameConflicts, problems: list[Diagnostic]) -> dict[str, LiveAsg]:
        """Owned ASGs by role. Only the ASG with the name the spec gives a role stands for that role; any other
        owned ASG (a role the spec dropped, a renamed one) is keyed '<role tag>@<name>' and so is an extra."""
        by_name = {a.name.lower(): role for role, a in self.desired.asgs.items()}
        result: dict[str, LiveAsg] = {}
        for raw in raw_asgs:
            name, tags = str(raw.name), _tags(raw)
            declared = by_name.get(name.lower())
            if self.mine(tags):
                # (a wrong or missing role tag on the declared name is a tag difference, fixed in place)
                key, adopt = declared or f"{tags.get(ROLE_TAG, '')}@{name}", False
            elif declared:
                what = f"application security group {name} in {self.rg}"
                verdict = claim("azure", what, tags, self.identity, conflicts, _RENAME_HINT)
                if verdict.problem:
                    problems.append(verdict.problem)
                if verdict.verdict != "adopt":
                    continue
                key, adopt = declared, True
            else:
                continue
            result[key] = LiveAsg(key, name, str(raw.id), str(raw.location or ""), tags, adopt)
        return dict(sorted(result.items()))

    def read_subnets(self) -> dict[str, SubnetRef]:
        found = {}
        for s in (s for nsg in self.desired.nsgs.values() for s in nsg.subnets):
            rg = s.resource_group or self.rg
            key = s.key
            raw = self.reads.subnet(rg, s.virtual_network, s.name, self.since)
            if raw is None:
                raise CloudportsError(
                    [
                        Diagnostic(
                            None,
                            f"azure: subnet {key} (resource group {rg}) named by targets.azure.subnets does not exist",
                            "create the virtual network and subnet first (cloudports only associates the NSG "
                            "with it), or fix the name",
                        )
                    ]
                )
            nsg = getattr(raw, "network_security_group", None)
            found[key] = SubnetRef(key, rg, s.virtual_network, s.name, str(raw.id), getattr(nsg, "id", None))
        return found
