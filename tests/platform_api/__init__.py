"""Loopback stand-ins for the GitHub and GitLab REST endpoints behind the change comment.

``GithubApi`` serves the issue-comment endpoints (list, create, update) of one repository and
``GitlabApi`` the merge-request note endpoints (list, create, modify) of one project, each on
127.0.0.1 in a daemon thread, used as a context manager. Both check every request against the
platform's public documentation (see each module's docstring for the pages), record it with
what it got wrong in ``requests``/``violations``, and answer as the platform would.
"""

from tests.platform_api.common import LoggedRequest, LogicalClock, LoopbackApi, Reply
from tests.platform_api.github import GithubApi, GithubUser
from tests.platform_api.gitlab import GitlabApi, GitlabUser

__all__ = [
    "GithubApi",
    "GithubUser",
    "GitlabApi",
    "GitlabUser",
    "LoggedRequest",
    "LogicalClock",
    "LoopbackApi",
    "Reply",
]
