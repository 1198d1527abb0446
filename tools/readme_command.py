"""Print the shell command of a README section (`install`, `test` or `docs`): the first ```bash block under the
`## Install`, `## Test` or `## Docs` heading. `.ci/run` runs exactly these, so README and CI cannot drift apart."""
import re
import sys
from pathlib import Path

text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def command(section: str) -> str:
    m = re.search(rf"^## {section}\b.*?^```bash\n(.*?)^```", text, flags=re.S | re.M | re.I)
    if not m: sys.exit(f"README.md has no ```bash block under '## {section}'")
    return m.group(1).strip()


if __name__ == "__main__":
    print(command(sys.argv[1]))
