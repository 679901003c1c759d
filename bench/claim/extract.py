#!/usr/bin/env python3
"""bench/claim/extract.py SCHEMA: prints the worker's claim statement, taken
from src/queue.c (queue_claim's `static const char *sql`), with the schema
put in and $1..$7 as pgbench variables (:n :lease :timeout :pid :cur_owner
:per_owner; $6, the cursor's identity, is the literal '': pgbench cannot
pass an empty string variable)."""
import re, sys, os
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
src = open(os.path.join(root, 'src', 'queue.c')).read()
body = src[src.index('\nqueue_claim('):]
body = body[body.index('static const char *sql ='):]
body = body[:body.index('";') + 2]
parts = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
sql = ''.join(p.encode().decode('unicode_escape') for p in parts)
sql = sql.replace('%1$s', sys.argv[1])
# typed as the worker's SPI_prepare types them (the types[] array of
# queue_claim); the parameters after $7 get a typed literal
types = re.search(r'Oid\s+types\[\d+\]\s*=\s*\{([^}]*)\}', src[src.index('\nqueue_claim('):]).group(1)
types = [t.strip() for t in types.split(',')]
pgtype = {'INT4OID': 'int4', 'OIDOID': 'oid', 'TEXTOID': 'text', 'INT8OID': 'int8', 'BOOLOID': 'bool'}
known = {1: ':n', 2: ':lease', 3: ':timeout', 4: ':pid', 5: ':cur_owner', 7: ':per_owner'}
literal = {'TEXTOID': "''", 'INT4OID': '0', 'INT8OID': '0', 'OIDOID': '0', 'BOOLOID': 'false'}
names = {}
for i, t in enumerate(types, 1):
    names[i] = '(%s)::%s' % (known[i] if i in known else literal[t], pgtype[t])
sql = re.sub(r'\$([0-9]+)\b', lambda m: names[int(m.group(1))], sql)
print(sql + ';')
