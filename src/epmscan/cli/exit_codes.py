"""The exit codes every command uses (docs/conventions.md has the table)."""

EXIT_OK = 0
"""As expected."""
EXIT_FINDINGS = 1
"""The command's own "not as expected": findings, a change that counts, a failed step."""
EXIT_USAGE = 2
"""Bad input (one line on stderr), nothing sent."""
EXIT_SIGINT = 130
"""Interrupted by SIGINT (Ctrl-C); everything finished so far is kept."""
EXIT_SIGTERM = 143
"""Stopped by SIGTERM; everything finished so far is kept."""
