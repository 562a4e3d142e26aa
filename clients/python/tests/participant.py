"""A participant donating through the sandbox Google provider, as a browser does
it (spec donation.md §1 steps 3-8, §3.2, §6.3): open the donation link, accept
the terms, continue to Google, press Allow on the sandbox's consent screen with
a test scenario, follow the redirect back to Steward's OAuth callback. Steward's
own workers then export, download and parse the sandbox archive; `processed()`
waits for that through GetDonation.

It is plain HTTP on the running server (the e2e stack runs the sandbox
providers, as every non-production Steward does): no test-only routes, and
nothing here knows more about the pages than their forms, as a browser would.
"""

from __future__ import annotations

import http.client
import time
from html.parser import HTMLParser
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlencode, urljoin, urlsplit

import steward_client
from steward_client.proto.steward.donation.v1 import donation_pb2


class _Forms(HTMLParser):
    """The forms of a page: their action and the fields a browser would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: List[Tuple[str, List[Tuple[str, str]]]] = []
        self._select: Optional[str] = None

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), []))
        elif not self.forms or "name" not in a:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            self.forms[-1][1].append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.forms[-1][1].append((self._select, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def form(html: str, page_url: str, action: str) -> Tuple[str, List[Tuple[str, str]]]:
    """The URL and fields of the page's form posting to a path ending in `action`."""
    parser = _Forms()
    parser.feed(html)
    for target, fields in parser.forms:
        target = urljoin(page_url, target)
        if urlsplit(target).path.endswith(action):
            return target, fields
    raise AssertionError(f"no form posting to {action} in the page: {[t for t, _ in parser.forms]}")


class Browser:
    """HTTP/1.1 with one cookie jar for the server's host; redirects are returned, not followed."""

    def __init__(self) -> None:
        self.cookies: Dict[str, str] = {}

    def request(self, method: str, url: str, fields: Optional[List[Tuple[str, str]]] = None) -> Tuple[int, str, str]:
        """`(status, Location or "", body)`."""
        parts = urlsplit(url)
        assert parts.hostname in ("127.0.0.1", "localhost"), f"the flow stays on this machine: {url}"
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {"accept": "text/html"}
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if fields is not None:
            body = urlencode(fields)
            headers["content-type"] = "application/x-www-form-urlencoded"
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            for header in response.msg.get_all("set-cookie") or []:
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                if "max-age=0" in rest.lower().replace(" ", ""):
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = value
            location = response.getheader("location") or ""
            return response.status, urljoin(url, location) if location else "", response.read().decode()
        finally:
            connection.close()


def donate(donation_url: str, scenario: Optional[Dict[str, str]] = None) -> None:
    """Walks the participant's sign-in for the donation behind `donation_url`.

    `scenario` sets the sandbox consent screen's test-scenario fields (by
    default the `tiny` persona: 5 records per data type).
    """
    scenario = scenario or {"persona": "tiny"}
    browser = Browser()
    base = f"{urlsplit(donation_url).scheme}://{urlsplit(donation_url).netloc}"

    status, location, body = browser.request("GET", donation_url)
    assert (status, location) == (302, f"{base}/donate/"), (status, location, body[:500])

    status, _, page = browser.request("GET", f"{base}/donate/terms/")
    assert status == 200, (status, page[:500])
    action, fields = form(page, f"{base}/donate/terms/", "/donate/terms/")
    status, location, body = browser.request("POST", action, fields)
    assert status == 303 and location == f"{base}/donate/", (status, location, body[:500])

    status, _, page = browser.request("GET", f"{base}/donate/")
    assert status == 200, (status, page[:500])
    action, fields = form(page, f"{base}/donate/", "/donate/authorize/")
    status, location, body = browser.request("POST", action, fields)
    assert status == 302 and "/sandbox/google/" in location, (status, location, body[:500])

    status, _, consent = browser.request("GET", location)
    assert status == 200, (status, consent[:500])
    action, fields = form(consent, location, "/auth/decision")
    fields = [(k, v) for k, v in fields if k not in scenario] + list(scenario.items()) + [("decision", "allow")]
    status, callback, body = browser.request("POST", action, fields)
    assert status == 302 and "/oauth/google/callback/" in callback and "code=" in callback, (status, callback, body)

    status, location, body = browser.request("GET", callback)
    assert status in (302, 303) and location == f"{base}/donate/", (status, location, body[:500])


def processed(client: steward_client.Client, donation_id: int, within: float = 120.0) -> donation_pb2.Donation:
    """The donation once Steward's workers have processed it (GetDonation says PROCESSED)."""
    deadline = time.monotonic() + within
    while True:
        donation = client.get_donation(donation_id)
        if donation.status == donation_pb2.DONATION_STATUS_PROCESSED:
            return donation
        assert donation.status != donation_pb2.DONATION_STATUS_ERROR, f"processing failed: {donation.error}"
        assert time.monotonic() < deadline, f"not processed within {within} s: {donation}"
        time.sleep(0.5)
