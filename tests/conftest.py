"""Suite-wide hygiene: no test writes to the user's data directory."""

from __future__ import annotations

import os
import tempfile

# Default workspaces (one per log) go to a throw-away directory for the whole run; tests that
# care pass --workspace / a tmp_path explicitly anyway.
os.environ["REWIND_DATA_DIR"] = tempfile.mkdtemp(prefix="rewind-test-data-")
