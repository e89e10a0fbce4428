"""New distribution: the form, its preview and its creation (issue #14, screen 3).

The form is read into the application's own command, `app.commands.CreateDistribution`, with
`msgspec.convert`: the API's patterns and bounds apply, and the domain's rules apply when the
command runs. Amounts are typed in human units with the asset's payment token decimals
(`web.forms.to_units`: exact, commas between thousands accepted, too many decimals refused);
percentages (withholding, a PERCENTAGE rule) are typed in percent with at most two decimals,
which is exactly the domain's basis points. The preview is `app.preview`'s, from the asset's
live holders as the API's preview reads them: nothing recorded. Creating is the API's
`create_distribution` with the form's key as its Idempotency-Key: the key is made when the
form is rendered, so a double click creates one distribution.

Bad input re-renders the form with the field marked and a 422; every other refusal (409,
404…) goes to the page's flash area (`web.errors`). Nothing is recorded on bad input.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException
from litestar.params import FromQuery
from litestar.response import Template

from api import writes
from api.controllers.holders import live_holders
from api.keys import OPERATE
from api.problems import Problem
from app.commands import Account, CreateDistribution
from app.preview import Preview, preview_distribution
from domain import accounts
from domain.entitlements import SkipReason
from domain.errors import InvalidInput
from domain.terms import DistributionKind, RuleKind
from web import queries
from web.auth import session_of
from web.forms import FORM, field_errors, to_units
from web.render import page

BASE = "/panel/distributions/new"
PERCENT_DECIMALS = 2  # percent with two decimals is basis points, exactly
MAX_FILE_BYTES = 2 * 1024 * 1024
# How the operator starts execution → the command's `execution` (recurring and corporate-
# action executions spawn many distributions: those are schedules, not this form).
EXECUTIONS = {
    "MANUAL": "Manual: an operator executes it once approved",
    "SCHEDULED": "Scheduled at a time (UTC)",
    "ON_DEPOSIT": "On deposit: when the vault holds the funds",
}
# How holders are paid (domain.rails): the vault, or native HTS transfers on Hedera.
RAILS = {
    "VAULT": "The PayoutVault contract",
    "HTS": "Native HTS token transfers (a Hedera asset paying an HTS token)",
}
RULES = {
    RuleKind.PRO_RATA: "Pro-rata: a total shared by balance",
    RuleKind.PER_UNIT: "Per unit: an amount per whole asset token",
    RuleKind.FIXED_PER_HOLDER: "Fixed per holder: the same amount to each eligible holder",
    RuleKind.PERCENTAGE: "Percentage of the vault's balance at the snapshot",
    RuleKind.RATE: "Coupon by rate: the bond's coupon number (its terms' rate and period)",
}
# A msgspec location in the command → the form field that typed it.
PATHS = {
    "$.asset_id": "asset_id", "$.kind": "kind", "$.rule.kind": "rule_kind",
    "$.rule.value": "rule_value", "$.rule": "rule_value", "$.record_date": "record_date",
    "$.execution.at": "execution_at", "$.execution": "execution_kind",
    "$.withholding_bps": "withholding_percent",
    "$.withholding_overrides": "withholding_overrides", "$.excluded": "excluded",
    "$.minimum_payout": "minimum_payout", "$.concept": "concept", "$.rail": "rail",
}
# Words of the domain's refusals (which name no location) → the field they are about.
HINTS = (
    ("HTS rail", "rail"),
    ("paused", "asset_id"), ("no holder", "asset_id"), ("maturity", "record_date"),
    ("rule.coupon", "rule_value"), ("coupon terms", "rule_value"),
    ("CASH_OUT", "rule_kind"),
    ("PERCENTAGE", "rule_value"), ("vault", "rule_value"), ("value", "rule_value"),
    ("withholding for", "withholding_overrides"), ("default withholding",
                                                   "withholding_percent"),
    ("minimum payout", "minimum_payout"), ("concept", "concept"),
    ("record date", "record_date"), ("execution", "execution_kind"),
    ("account", "excluded"),
)
TEXT_FIELDS = ("asset_id", "kind", "rule_kind", "rule_value", "withholding_percent",
               "withholding_overrides", "excluded", "minimum_payout", "record_date",
               "execution_kind", "execution_at", "concept", "idempotency_key", "rail")


@dataclass
class Form:
    """What the operator typed (kept as typed, to render again), and the file they chose."""

    values: dict[str, str]
    file_name: str = ""
    file_text: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    async def read(cls, request: Request[Any, Any, Any]) -> Form:
        data = await request.form()
        values = {name: str(data.get(name) or "") for name in TEXT_FIELDS}
        form = cls(values)
        upload = data.get("excluded_file")
        if isinstance(upload, UploadFile) and upload.filename:
            form.file_name = upload.filename
            raw = await upload.read(MAX_FILE_BYTES + 1)
            if len(raw) > MAX_FILE_BYTES:
                form.errors["excluded_file"] = "the file is larger than 2 MB"
            else:
                try:
                    form.file_text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    form.errors["excluded_file"] = "the file is not UTF-8 text (save it as CSV)"
        return form

    def command(self, assets: dict[UUID, dict[str, Any]], now: datetime
                ) -> CreateDistribution | None:
        """The command the form describes, or None with `errors` set."""
        v, errors = self.values, self.errors
        asset = _asset(v["asset_id"], assets)
        if asset is None:
            errors["asset_id"] = "choose an asset"
        decimals = asset["payment_decimals"] if asset else 0
        rule_kind = v["rule_kind"]
        percent_rule = rule_kind == RuleKind.PERCENTAGE
        # A coupon by rate is the bond's coupon number; a cash-out left blank redeems at
        # the bond's nominal. Every other rule is an amount.
        coupon = self._coupon() if rule_kind == RuleKind.RATE else None
        at_nominal = v["kind"] == DistributionKind.CASH_OUT and not v["rule_value"].strip()
        rule_value = None if rule_kind == RuleKind.RATE or at_nominal else self._units(
            "rule_value", PERCENT_DECIMALS if percent_rule else decimals, required=True,
            known=asset is not None or percent_rule)
        minimum = self._units("minimum_payout", decimals, known=asset is not None)
        withholding = self._units("withholding_percent", PERCENT_DECIMALS)
        overrides = self._overrides()
        excluded = self._excluded()
        record_date = self._moment("record_date", required=True)
        execution: dict[str, Any] = {"kind": "MANUAL"}
        if v["execution_kind"] == "SCHEDULED":
            at = self._moment("execution_at", required=True)
            if at is not None and at <= now:
                errors["execution_at"] = "this time has passed: choose a time in the future (UTC)"
            execution = {"kind": "SCHEDULED", "at": at}
        elif v["execution_kind"] == "ON_DEPOSIT":
            execution = {"kind": "AUTOMATIC", "trigger": "ON_DEPOSIT"}
        elif v["execution_kind"] not in ("", "MANUAL"):
            errors["execution_kind"] = "choose how execution starts"
        if errors:
            return None
        rule = None if at_nominal else {"kind": rule_kind, "coupon": coupon} \
            if rule_kind == RuleKind.RATE else {"kind": rule_kind, "value": str(rule_value)}
        raw = {"asset_id": v["asset_id"], "kind": v["kind"], "rule": rule,
               "record_date": record_date, "execution": execution,
               "withholding_bps": withholding or 0, "withholding_overrides": overrides,
               "excluded": excluded, "minimum_payout": str(minimum or 0),
               "concept": v["concept"].strip(), "rail": v["rail"] or "VAULT"}
        try:
            return msgspec.convert(raw, CreateDistribution)
        except msgspec.ValidationError as exc:
            errors.update(field_errors(exc, PATHS))
            return None

    def _coupon(self) -> int | None:
        text = self.values["rule_value"].strip()
        if not text.isdigit() or not 1 <= int(text) <= 1_200:
            self.errors["rule_value"] = "enter the coupon's number (1 is the first)"
            return None
        return int(text)

    def refused(self, exc: InvalidInput) -> None:
        self.errors.update(field_errors(exc, hints=HINTS))

    def _units(self, name: str, decimals: int, *, required: bool = False,
               known: bool = True) -> int | None:
        text = self.values[name].strip()
        if not text:
            if required:
                self.errors[name] = "enter an amount"
            return None
        if not known:
            return None  # no asset: its decimals are unknown (the asset field says so)
        try:
            return to_units(text, decimals)
        except ValueError as exc:
            self.errors[name] = str(exc)
            return None

    def _moment(self, name: str, *, required: bool) -> datetime | None:
        text = self.values[name].strip()
        if not text:
            if required:
                self.errors[name] = "enter a date and time (UTC)"
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.errors[name] = "not a date and time: YYYY-MM-DD HH:MM (UTC)"
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def _overrides(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for number, line in _numbered(self.values["withholding_overrides"]):
            parts = [p for p in re.split(r"[\s,;]+", line) if p]
            if len(parts) != 2:
                self.errors.setdefault("withholding_overrides", f"line {number}: write"
                                       " “account, percent” (e.g. 0xAb…12, 15)")
                continue
            account, rate = parts
            problem = _account_problem(account)
            if problem:
                self.errors.setdefault("withholding_overrides", f"line {number}: {problem}")
                continue
            try:
                bps = to_units(rate.rstrip("%"), PERCENT_DECIMALS)
            except ValueError as exc:
                self.errors.setdefault("withholding_overrides", f"line {number}: {exc}")
                continue
            found.append({"account": account, "bps": bps})
        return found

    def _excluded(self) -> list[str]:
        found: list[str] = []
        for number, account in _numbered(self.values["excluded"]):
            problem = _account_problem(account)
            if problem:
                self.errors.setdefault("excluded", f"line {number}: {problem}")
            else:
                found.append(account)
        if self.file_text is not None:
            for number, row in enumerate(csv.reader(io.StringIO(self.file_text)), 1):
                cell = row[0].strip() if row else ""
                if not cell or (number == 1 and _is_header(cell)):
                    continue
                problem = _account_problem(cell)
                if problem:
                    self.errors.setdefault("excluded_file",
                                           f"{self.file_name}, line {number}: {problem}")
                else:
                    found.append(cell)
        return found


def _numbered(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _is_header(cell: str) -> bool:
    return not cell[:1].isdigit()  # "account", "address"…: accounts start 0x or a digit


def _account_problem(account: str) -> str | None:
    """Why `account` is not one the command takes (its pattern, then the domain's checksum)."""
    try:
        msgspec.convert(account, Account)
        accounts.canonical(account)
    except msgspec.ValidationError:
        return f"{account!r} is not an account (an EVM address 0x… or a Hedera id 0.0.N)"
    except InvalidInput as exc:
        return str(exc)
    return None


def _asset(text: str, assets: dict[UUID, dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return assets.get(UUID(text.strip()))
    except ValueError:
        return None


def _key(text: str) -> str:
    """The form's idempotency key: one the panel made (a UUID), or the form is stale."""
    try:
        return str(UUID(text.strip()))
    except ValueError:
        raise HTTPException(status_code=400, detail="this form has no valid key: reload the"
                            " page and fill it in again") from None


class NewDistributionController(Controller):
    path = "/distributions/new"
    include_in_schema = False

    @get("/", opt={"panel_roles": OPERATE})
    async def form(self, request: Request[Any, Any, Any],
                   asset_id: FromQuery[str | None] = None) -> Template:
        values = dict.fromkeys(TEXT_FIELDS, "")
        values.update(asset_id=asset_id or "", kind=DistributionKind.DIVIDEND.value,
                      rule_kind=RuleKind.PRO_RATA.value, withholding_percent="0",
                      minimum_payout="0", execution_kind="MANUAL", rail="VAULT",
                      idempotency_key=str(uuid4()))
        return await _render(request, "new_distribution.html", Form(values))

    @post("/preview", opt={"panel_roles": OPERATE})
    async def preview(self, request: Request[Any, Any, Any]) -> Template:
        form = await Form.read(request)
        state = request.app.state
        body = form.command(await queries.assets(state.reads), datetime.now(UTC))
        if body is None:
            return await _render(request, "new_distribution_form.html", form, 422)
        try:
            holders = live_holders(state.reads, state.token_reader)
            found: Preview = await writes.call(
                preview_distribution, state.ledger, holders, body, gas_model=state.gas_model)
        except InvalidInput as exc:
            form.refused(exc)
            return await _render(request, "new_distribution_form.html", form, 422)
        # The file's accounts join the list, so the form now says all it excludes.
        form.values["excluded"] = "\n".join(body.excluded)
        return await _render(request, "new_distribution_form.html", form, preview=found)

    @post("/", opt={"panel_roles": OPERATE})
    async def create(self, request: Request[Any, Any, Any]) -> Response[Any] | Template:
        form = await Form.read(request)
        key = _key(form.values["idempotency_key"])
        state = request.app.state
        body = form.command(await queries.assets(state.reads), datetime.now(UTC))
        if body is None:
            return await _render(request, "new_distribution_form.html", form, 422)
        try:
            did, position, _ = await writes.call(
                writes.create_distribution, state.ledger, body, key,
                session_of(request).principal.actor)
        except InvalidInput as exc:
            form.refused(exc)
            return await _render(request, "new_distribution_form.html", form, 422)
        # The distribution's page reads the read model: let it catch up first (a lagging
        # projection still redirects; the page then says what it can).
        with contextlib.suppress(Problem):
            await state.reads.wait_for(position, "distributions")
        return Response("", status_code=200,
                        headers={"HX-Redirect": f"/panel/distributions/{did}"})


async def _render(request: Request[Any, Any, Any], name: str, form: Form,
                  status_code: int = 200, preview: Preview | None = None) -> Template:
    assets = await queries.assets(request.app.state.reads)
    chosen = _asset(form.values["asset_id"], assets)
    return page(request, name, status_code=status_code, form=form, values=form.values,
                errors=form.errors, form_error=form.errors.get(FORM),
                assets=list(assets.values()), asset=chosen, kinds=list(DistributionKind),
                rules=RULES, executions=EXECUTIONS, rails=RAILS, preview=preview,
                reasons=list(SkipReason))
