"""The Slack surface: the Bolt app (HTTP and Socket Mode), the way of one command (dispatch),
the composition root (wiring, discovery of the runbooks), the console, the CLI and
check-config. It may import everything; nothing outside it imports it.
"""
