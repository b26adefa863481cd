"""The runbooks, one package (or module) per family: orders/, digest/, jobs/, rollback,
history, approvals, help.

A runbook module declares what it adds to the bot in one `PROVIDES` (bot/engine/provides.py);
the Slack surface finds every one (bot/surface/discovery.py). Runbooks import the engine's
public module (`bot.engine`), the OMS client's public names (`bot.oms`) and the kit; never
the store, Bolt or the Slack surface. A family uses another only through that family's
package (its `__all__`), never a module inside it.
"""
