-- files: write, read, list, make_dir, remove
SELECT sandbox_create() AS id \gset
SELECT sandbox_write_file(:'id', '/home/user/a.py', 'print(1)');
SELECT sandbox_read_file(:'id', '/home/user/a.py');
SELECT sandbox_read_file_text(:'id', '/home/user/a.py');
SELECT stdout FROM sandbox_exec(:'id', 'python3 /home/user/a.py');
-- relative paths resolve against /home/user
SELECT sandbox_read_file_text(:'id', 'a.py');
-- binary content round trips exactly
SELECT sandbox_write_file(:'id', '/home/user/bin.dat', '\x00ff10fe00'::bytea);
SELECT sandbox_read_file(:'id', '/home/user/bin.dat') = '\x00ff10fe00'::bytea AS same;
-- a 5 MB file round trip
SELECT sandbox_write_file(:'id', '/tmp/big.bin', decode(repeat('0123456789abcdef', 655360), 'hex')) AS written;
SELECT length(b) AS bytes, md5(b) = md5(decode(repeat('0123456789abcdef', 655360), 'hex')) AS same
  FROM sandbox_read_file(:'id', '/tmp/big.bin') AS b;
SELECT stdout FROM sandbox_exec(:'id', 'stat -c %s /tmp/big.bin');
-- parents are created
SELECT sandbox_write_file(:'id', '/home/user/x/y/z.txt', 'deep');
SELECT sandbox_make_dir(:'id', '/home/user/newdir');
SELECT sandbox_make_dir(:'id', '/home/user/newdir');
SELECT name, path, type, CASE WHEN type = 'file' THEN size END AS size, mode,
       modified IS NOT NULL AS has_mtime
  FROM sandbox_list_files(:'id', '/home/user') ORDER BY name;
SELECT name, type FROM sandbox_list_files(:'id', '/home/user', depth => 3) ORDER BY path;
SELECT sandbox_remove_file(:'id', '/home/user/x');
SELECT sandbox_remove_file(:'id', '/home/user/x');
SELECT name FROM sandbox_list_files(:'id', '/home/user') ORDER BY name;
-- errors
SELECT * FROM test_error(format('SELECT sandbox_read_file(%L, ''/home/user/missing.txt'')', :'id'));
SELECT * FROM test_error(format('SELECT * FROM sandbox_list_files(%L, ''/home/user/missing'')', :'id'));
SELECT * FROM test_error(format('SELECT sandbox_write_file(%L, ''/home/user/n.txt'', NULL::text)', :'id'));
SELECT sandbox_kill(:'id');
