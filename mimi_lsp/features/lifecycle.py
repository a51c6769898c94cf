"""initialize / initialized / configuration: settings and workspace folders."""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from mimi_lsp.settings import resolve_settings
from mimi_lsp.uris import uri_to_path

log = logging.getLogger(__name__)


def register(server: Any) -> None:
    state: dict[str, Any] = {"init_options": None, "pull": False}

    def apply(*layers: Any) -> None:
        settings, problems = resolve_settings(*layers)
        server.services.apply_settings(settings)
        if problems:
            message = "mimi: invalid settings ignored: " + "; ".join(problems)
            log.warning(message)
            server.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Warning, message=message)
            )

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        state["init_options"] = params.initialization_options
        folders = [f.uri for f in params.workspace_folders or []]
        if not folders and params.root_uri:
            folders = [params.root_uri]
        server.services.workspace_folders = [uri_to_path(u) for u in folders]
        workspace = params.capabilities.workspace
        state["pull"] = bool(workspace and workspace.configuration)
        apply(params.initialization_options)

    async def pull_configuration() -> None:
        if not state["pull"]:
            return
        try:
            result = await server.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="mimi")])
            )
        except Exception:
            log.debug("workspace/configuration failed", exc_info=True)
            return
        section = result[0] if result else None
        if section:
            apply(state["init_options"], section)

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        await pull_configuration()
        server.run_task(server.services.completion.check_backend(), name="check-backend")
        server.services.start_index()
        # Features that talk to the client once it is ready (e.g. watcher registration).
        for hook in list(getattr(server, "initialized_hooks", [])):
            try:
                await hook()
            except Exception:
                log.exception("initialized hook failed")

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        if state["pull"]:
            await pull_configuration()
        elif isinstance(params.settings, dict) and params.settings:
            apply(state["init_options"], params.settings)
        server.run_task(server.services.completion.check_backend(), name="check-backend")

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_workspace_folders(params: types.DidChangeWorkspaceFoldersParams) -> None:
        folders = list(server.services.workspace_folders)
        for removed in params.event.removed or []:
            path = uri_to_path(removed.uri)
            if path in folders:
                folders.remove(path)
        for added in params.event.added or []:
            path = uri_to_path(added.uri)
            if path not in folders:
                folders.append(path)
        server.services.set_workspace_folders(folders)

    @server.feature(types.SHUTDOWN)
    async def shutdown(params: Any) -> None:
        await server.services.aclose()
