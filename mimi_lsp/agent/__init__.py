"""The editing agent: confined workspace tools, the tool-calling loop, and edit plans.

``service.AgentService`` is the entry point; everything here is LSP-free.
"""
