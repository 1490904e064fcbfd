"""The program layer: one function per use case, between the engine and the command line.

Each takes one settings object (:mod:`epmscan.settings`) and, where hosts stream in,
an observer (:mod:`.observer`, sslyze's shape): it runs the engine, asks ``checks`` for
the verdicts and returns what the caller renders. No printing and no option parsing
here; ``cli/`` builds the settings and renders, ``report/`` writes the files.

- :func:`.dump.dump_one` — one host's endpoint map (``epmscan dump``);
- :func:`.scan.run_scan` — many hosts (``epmscan scan``);
- :func:`.check.run_check` — the Exchange check of many hosts (``epmscan check``);
- :func:`.diff.compare` — two results, or a result and a live check (``epmscan diff``);
- :func:`.firewall.firewall_rules` — rules from a saved result (``epmscan firewall``);
- :func:`.demo.run_demo` — the check against the built-in lab (``epmscan demo``).
"""
