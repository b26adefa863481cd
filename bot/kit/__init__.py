"""The kit: small pieces every layer uses.

Block Kit builders (`blocks`), answering a user (`reply`), paced channel posts (`posting`),
JSON logs (`logs`), the settings (`config`), durations and times (`durations`), and serving
an ASGI app on a thread (`serve`). The kit imports nothing else of ours.
"""
