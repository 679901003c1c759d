#!/usr/bin/env python3
"""test/security/escalations.py DB SERVER_LOG < rows

Prints one line per distinct (planted object, role, statement) that ran as a
role other than regress_attacker: from attacker.log rows on stdin (tag, cur,
sess, su, btype, ctx; tab-separated, ctx with newlines as ' <- ') and from
the SECTEST-ESCALATION lines of the server log (rows of transactions that
rolled back are only there).  The statement is the first SPI statement in
the context that is not the planted function's own call of attacker.note.
"""
import re
import sys

db, logpath = sys.argv[1], sys.argv[2]


def statement(ctx, query=''):
    for m in re.finditer(r'SQL (?:statement|function) "(.*?)"(?= <- |$)', ctx):
        s = m.group(1)
        if 'attacker.note' in s:
            continue
        return ' '.join(s.split())[:240]
    for part in ctx.split(' <- '):
        if part.startswith('SQL function'):
            return ' '.join(part.split())[:240]
    return 'top-level statement: ' + ' '.join((query or '?').split())[:240]


out = []
for line in sys.stdin:
    f = line.rstrip('\n').split('\t')
    if len(f) < 7:
        continue
    tag, cur, sess, su, btype, ctx, query = f[:7]
    out.append(f"{tag} | current_user={cur} session_user={sess} superuser={su} backend={btype or '?'} | {statement(ctx, query)}")

pat = re.compile(r'SECTEST-ESCALATION db=(\S+) tag=\[(.*?)\] current_user=(\S+) session_user=(\S+) '
                 r'(?:superuser=(\S+) backend=(.*?) context=\[(.*)\] query=\[(.*)\]|\(note failed: (.*)\))$')
try:
    with open(logpath, errors='replace') as fh:
        for line in fh:
            m = pat.search(line.rstrip('\n'))
            if not m or m.group(1) != db:
                continue
            _, tag, cur, sess, su, btype, ctx, query, failed = m.groups()
            if ctx is None:
                out.append(f"{tag} | current_user={cur} session_user={sess} | (server log; note failed: {failed})")
            else:
                out.append(f"{tag} | current_user={cur} session_user={sess} superuser={su} backend={btype or '?'} | {statement(ctx, query)}")
except FileNotFoundError:
    pass

seen = set()
for o in out:
    if o not in seen:
        seen.add(o)
        print(o)
