"""Exchange port validation, the pure half: policy, classification, findings, rules, diff.

Nothing here does I/O except reading a policy or saved-result file. The engine
(``engine/probes.py``) resolves and probes; this package judges.

Call sequence for ``epmscan check``::

    policy = load_policy(path)                                  # or, for --expect/--require-http:
    policy = Policy.from_expectations(parse_expect(opts.expect),
                                      parse_port_list(opts.require_http))
    targets = policy.targets()                                  # when no targets were given

    for each host:                                              # engine side
        host_result = await dump_host(...)                      # HostResult
        expectation = policy.expectation_for(host_result.address, host_result.target)
        ports = ...resolve + bind-probe...                      # tuple[ResolvedPort, ...]
        http = ...probe expectation.require_http (or 6001/6002/6004)...  # tuple[HttpPortProbe, ...]
        report = build_report(host_result, ports, http, expectation)
        # = classify_ports(...) filling port_class/expected_port, then evaluate(...)

    exit_code = exit_code_for(all findings, parse_severity(opts.fail_on))

``epmscan firewall``: ``render_firewall(reports, fmt, source=..., allow_dynamic=...)``.
``epmscan diff OLD NEW``: ``diff_results(load_saved(OLD), load_saved(NEW))`` then
``diff_exit_code(diff, policy)``.

``expectation`` may be None (no policy, or a host no group matches): the endpoint mapper,
the bind probes and the HTTP ports are still judged, nothing is held to a static port.
"""
