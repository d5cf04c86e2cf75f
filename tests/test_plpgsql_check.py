"""Every PL/pgSQL routine of staging and mart passes plpgsql_check."""
from __future__ import annotations

import pytest

from sql_loading import rows


@pytest.mark.plpgsql_check
def test_every_routine_passes_plpgsql_check(db):
    db.cursor().execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
    routines = [r for (r,) in rows(db, """
        SELECT p.oid::regprocedure::text FROM pg_proc AS p
        JOIN pg_namespace AS n ON n.oid = p.pronamespace
        JOIN pg_language AS l ON l.oid = p.prolang
        WHERE n.nspname IN ('staging', 'mart') AND l.lanname = 'plpgsql' ORDER BY 1""")]
    all_routines = rows(db, "SELECT count(*) FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace"
                            " WHERE n.nspname IN ('staging', 'mart')")
    assert all_routines == [(len(routines),)] and len(routines) >= 10, routines

    findings = []
    for routine in routines:
        for level, lineno, message, detail, hint, query in rows(db, """
                SELECT level, lineno, message, detail, hint, query
                FROM plpgsql_check_function_tb(%s::regprocedure, fatal_errors => false,
                                               other_warnings => true, extra_warnings => true,
                                               performance_warnings => true)""", (routine,)):
            findings.append((level, routine, lineno, message, detail, hint, query))
    report = "\n".join(f"{level}: {routine} line {lineno}: {message}"
                       + (f" ({detail})" if detail else "") + (f" hint: {hint}" if hint else "")
                       for level, routine, lineno, message, detail, hint, _ in findings)
    errors = [f for f in findings if f[0] == "error"]
    assert errors == [], "plpgsql_check errors:\n" + report
    print(report or "plpgsql_check: no findings")
