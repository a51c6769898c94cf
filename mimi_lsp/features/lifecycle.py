"""initialize / initialized / configuration: settings, workspace folders and backend checks.

Settings come from ``initializationOptions`` and, for clients that answer it,
``workspace/configuration`` (section ``mimi``), pulled after ``initialized`` and again on every
``workspace/didChangeConfiguration``. After each the backends are checked at once, so the
status the client shows is current without waiting for a keystroke.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from mimi_lsp.language_server import MimiServer
from mimi_lsp.settings import resolve_settings
from mimi_lsp.uris import uri_to_path

log = logging.getLogger(__name__)


class Configuration:
    """The client's settings layers, merged and applied to the services."""

    def __init__(self, server: MimiServer) -> None:
        self.server = server
        self.init_options: Any = None
        self._told: set[str] = set()
        """Problems already told; a pull that finds them again (the same typo reaches us as
        initializationOptions and as the configuration section) does not repeat them."""

    def apply(self, *layers: Any) -> None:
        settings, problems = resolve_settings(*layers)
        self.server.services.apply_settings(settings)
        distinct = list(dict.fromkeys(problems))
        fresh = [p for p in distinct if p not in self._told]
        self._told = set(distinct)  # a problem fixed and made again is told again
        if fresh:
            message = "invalid settings ignored: " + "; ".join(fresh)
            log.warning("mimi: %s", message)
            self.server.tell(message, types.MessageType.Warning, prefix="mimi")

    async def pull(self) -> None:
        """Pull section ``mimi`` from clients that support ``workspace/configuration``."""
        if not self.server.session.client.configuration:
            return
        try:
            result = await self.server.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="mimi")])
            )
        except Exception:
            log.debug("workspace/configuration failed", exc_info=True)
            return
        section = result[0] if result else None
        if section:
            self.apply(self.init_options, section)


def check_backends(server: MimiServer) -> None:
    """Re-check completion's and chat's backends in the background (status right away)."""
    server.run_task(server.services.check_backends(), name="check-backends")


def register(server: MimiServer) -> None:
    config = Configuration(server)
    services = server.services

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        config.init_options = params.initialization_options
        folders = [f.uri for f in params.workspace_folders or []]
        if not folders and params.root_uri:
            folders = [params.root_uri]
        services.workspace_folders = [uri_to_path(u) for u in folders]
        config.apply(params.initialization_options)

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        await config.pull()
        server.settled()
        check_backends(server)
        services.start_index()
        await server.run_initialized_hooks()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        if server.session.client.configuration:
            await config.pull()
        elif isinstance(params.settings, dict) and params.settings:
            config.apply(config.init_options, params.settings)
        check_backends(server)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_workspace_folders(params: types.DidChangeWorkspaceFoldersParams) -> None:
        folders = list(services.workspace_folders)
        for removed in params.event.removed or []:
            path = uri_to_path(removed.uri)
            if path in folders:
                folders.remove(path)
        for added in params.event.added or []:
            path = uri_to_path(added.uri)
            if path not in folders:
                folders.append(path)
        services.set_workspace_folders(folders)

    @server.feature(types.SHUTDOWN)
    async def shutdown(params: Any) -> None:
        await services.aclose()
