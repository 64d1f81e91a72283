"""Azure Pipelines, on Azure DevOps Services or Azure DevOps Server (any collection URL).

Variables: https://learn.microsoft.com/en-us/azure/devops/pipelines/build/variables
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from jux_submit.models import CIContext
from jux_submit.providers.base import (
    Env,
    Provider,
    head_and_merge,
    plain_branch,
    quote_segment,
    repository_path,
    tag_from_ref,
    workspace_from,
)


def is_azure(env: Env) -> bool:
    return (env.get("TF_BUILD") or "").lower() == "true" and env.has("BUILD_BUILDID")


def _path_segments(url: str | None) -> list[str]:
    """The decoded path segments of ``url`` (``Widgets%20Platform`` → ``Widgets Platform``)."""
    path = urlsplit(url).path if url else ""
    return [unquote(segment) for segment in path.split("/") if segment]


def _repository_slug(env: Env, repository_url: str | None, collection: str | None) -> str | None:
    """``ci:repository`` for the triggering repository.

    Azure Repos Git: ``Project/repo``, decoded (``Widgets Platform/widgets``), the form Azure
    itself uses to name a repository of the organization (repository resources, ``checkout:
    git://Project/repo``): repository names are unique only within a project, and the URL path
    (``org/Widgets%20Platform/_git/widgets``) is no name at all. The project comes from the URL,
    which names the repository's own project even when the pipeline lives in another one; a URL
    without one (``org/_git/Widgets%20Platform``) is the default repository, named like its
    project. The default ``project`` is the last segment, the repository name, as for
    ``owner/repo`` elsewhere. Other hosts (GitHub, Bitbucket, other Git servers): the path of
    their URL, ``owner/repo``, which ``Build.Repository.Name`` also holds for GitHub.
    """
    name = env.get("BUILD_REPOSITORY_NAME")
    segments = _path_segments(repository_url)
    if "_git" in segments:
        at = segments.index("_git")
        before = segments[:at]
        base = _path_segments(collection)
        # The collection (dev.azure.com/org, or server/tfs/Collection) comes before the project.
        if [s.lower() for s in before[: len(base)]] == [s.lower() for s in base]:
            before = before[len(base) :]
        name = name or (segments[at + 1] if at + 1 < len(segments) else None)
        project = before[-1] if before else name
    elif env.get("BUILD_REPOSITORY_PROVIDER") == "TfsGit":
        project = env.get("SYSTEM_TEAMPROJECT")
    else:
        return repository_path(repository_url) or name
    if not name or "/" in name or not project:
        return name
    return f"{project}/{name}"


def read_azure(env: Env) -> CIContext:
    """The run described by Azure's predefined variables (``Build.*``, ``System.*``)."""
    collection = env.url("SYSTEM_COLLECTIONURI", "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI")
    project = env.get("SYSTEM_TEAMPROJECT", "SYSTEM_TEAMPROJECTID")
    build_id = env.number("BUILD_BUILDID")
    build_url = None
    if collection and project and build_id:
        build_url = f"{collection}/{quote_segment(project)}/_build/results?buildId={build_id}"
    job_id = env.get("SYSTEM_JOBID")
    job_url = f"{build_url}&view=logs&j={job_id}" if build_url and job_id else None

    source_ref = env.get("BUILD_SOURCEBRANCH")
    version = env.sha("BUILD_SOURCEVERSION")
    branch = tag = pull_request = source = target = merge_commit = None
    commit = version
    if env.get("BUILD_REASON") == "PullRequest" or env.number("SYSTEM_PULLREQUEST_PULLREQUESTID"):
        # For GitHub repositories PullRequestId is GitHub's internal id; the number users
        # see is PullRequestNumber. For Azure Repos the id is the number.
        pull_request = env.number(
            "SYSTEM_PULLREQUEST_PULLREQUESTNUMBER", "SYSTEM_PULLREQUEST_PULLREQUESTID"
        )
        source = env.branch("SYSTEM_PULLREQUEST_SOURCEBRANCH")
        target = env.branch("SYSTEM_PULLREQUEST_TARGETBRANCH")
        branch = source
        # The build runs on refs/pull/N/merge: BUILD_SOURCEVERSION is that merge commit.
        head = env.sha("SYSTEM_PULLREQUEST_SOURCECOMMITID")
        commit, merge_commit = head_and_merge(version, head)
    elif tag_from_ref(source_ref):
        tag = tag_from_ref(source_ref)
    else:
        # Never BUILD_SOURCEBRANCHNAME: it is only the last segment (feature/x → x).
        branch = plain_branch(source_ref) if (source_ref or "").startswith("refs/heads/") else None

    repository_url = env.url("BUILD_REPOSITORY_URI")
    return CIContext(
        is_ci=True,
        provider="azure-pipelines",
        branch=branch,
        tag=tag,
        commit=commit,
        pull_request=pull_request,
        pr_source_branch=source,
        pr_target_branch=target,
        build_id=build_id,
        build_number=env.get("BUILD_BUILDNUMBER"),
        build_url=build_url,
        job_name=env.get("SYSTEM_JOBDISPLAYNAME", "SYSTEM_JOBNAME"),
        job_url=job_url,
        repository=_repository_slug(env, repository_url, collection),
        repository_url=repository_url,
        workspace=env.path("BUILD_SOURCESDIRECTORY", "BUILD_REPOSITORY_LOCALPATH"),
        actor=env.get("BUILD_REQUESTEDFOR"),
        job_id=job_id,
        run_attempt=env.number("SYSTEM_JOBATTEMPT"),
        event=env.get("BUILD_REASON"),
        merge_commit=merge_commit,
        server_url=collection,
    )


AZURE = Provider(
    "azure-pipelines",
    is_azure,
    read_azure,
    workspace_from("BUILD_SOURCESDIRECTORY", "BUILD_REPOSITORY_LOCALPATH"),
)
