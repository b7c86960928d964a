"""DialogTech's XML answers, read into a small dataclass."""

from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import ResponseError
from ..xmlsafe import UnsafeXMLError, parse_xml

SUCCESS = "success"
# The longest sid or result stored (CallAttempt.sid / .result).
MAX_FIELD_LENGTH = 64


@dataclass(frozen=True)
class ClickToAgentResponse:
    result: str
    result_description: str
    sid: str

    @property
    def ok(self) -> bool:
        """Only ``success`` is success; any other result is a refusal."""
        return self.result.strip().lower() == SUCCESS


def parse_click_to_agent(body: bytes, *, max_bytes: int) -> ClickToAgentResponse:
    """Read ``<response><result/><result_description/><sid/></response>``.

    Raises :class:`ResponseError` for anything that is not such a document.
    """
    if not body.strip():
        raise ResponseError("DialogTech answered with an empty body")
    try:
        root = parse_xml(body, max_bytes=max_bytes)
    except UnsafeXMLError as err:
        raise ResponseError(f"DialogTech's answer could not be read: {err}") from None
    if root.tag != "response":
        raise ResponseError(f"DialogTech's answer has root <{root.tag}>, expected <response>")
    result = root.findtext("result")
    if result is None or not result.strip():
        raise ResponseError("DialogTech's answer has no <result>")
    sid = (root.findtext("sid") or "").strip()
    if len(sid) > MAX_FIELD_LENGTH or len(result) > MAX_FIELD_LENGTH:
        raise ResponseError(
            f"DialogTech's answer has a <sid> or <result> longer than {MAX_FIELD_LENGTH} characters"
        )
    response = ClickToAgentResponse(
        result=result,
        result_description=root.findtext("result_description") or "",
        sid=sid,
    )
    if response.ok and not response.sid:
        raise ResponseError("DialogTech answered success without a <sid>")
    return response
