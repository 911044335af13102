"""``python -m webapp.config``: print every setting as the Markdown table of docs/operating.md."""

from . import Config

print(Config.markdown_table(), end="")
