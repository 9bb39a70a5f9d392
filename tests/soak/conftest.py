"""The soak runs only when asked for: `make soak` (10 minutes) or MOTION_SOAK_SECONDS=N (CI: 45).

`make test` leaves it out without a skip: its module is not even collected
unless MOTION_SOAK_SECONDS is set.
"""

import os

collect_ignore_glob = [] if os.environ.get("MOTION_SOAK_SECONDS") else ["test_*.py"]
