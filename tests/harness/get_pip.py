"""Stand-in for get-pip.py, whose download host is unreachable here.

ansible-test runs this file with pip's arguments to put pip into its fresh sanity venvs: take pip
from the interpreter's own ensurepip, then run `pip install` with those arguments (they pin the
pip version ansible-test wants, which comes from PyPI).
"""

import subprocess
import sys

# In a child process: ensurepip sets PIP_CONFIG_FILE=/dev/null in its own environment, which would
# hide the machine's pip configuration (index, CA bundle) from the install below.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
raise SystemExit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
