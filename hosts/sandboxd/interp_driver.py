# sandboxd code-interpreter driver: one persistent Python process per context.
#
# Embedded into sandboxd at build time (interp_driver.h) and started inside
# the sandbox as `python3 -u -c <this file>`.  Protocol with sandboxd:
#   stdin : one JSON request per line  {"id": N, "code": "...", "env_vars": {...}}
#   stdout: one event per line          "<id> <json>", where <json> is a
#           message of E2B's /execute NDJSON stream (number_of_executions,
#           stdout, stderr, result, error, end_of_execution).
# The user's code runs in one global namespace that persists across requests.
# Writes to sys.stdout/sys.stderr and to file descriptors 1 and 2 (child
# processes) are captured and streamed while the code runs.
import ast
import codecs
import datetime
import json
import linecache
import os
import sys
import threading
import traceback

_REQ = os.fdopen(os.dup(0), "rb")
_EV = os.dup(1)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
_LOCK = threading.Lock()
_CURRENT = [None]
_SYNC = b"\x00\x1b[sandboxd-sync]\x1b\x00"


def _emit(eid, obj):
    data = (str(eid) + " " + json.dumps(obj) + "\n").encode("ascii")
    with _LOCK:
        view = memoryview(data)
        while view:
            n = os.write(_EV, view)
            view = view[n:]


def _ts():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Bytes:
    """sys.stdout.buffer stand-in: bytes are decoded and sent as text."""

    def __init__(self, out):
        self._out = out

    def write(self, b):
        self._out.write(bytes(b).decode("utf-8", "replace"))
        return len(b)

    def flush(self):
        self._out.flush()


class _Out:
    """Replacement for sys.stdout / sys.stderr.  Text is gathered for up to
    50 ms (like ipykernel's stream flushing) and then sent as one event."""

    encoding = "utf-8"
    errors = "replace"
    closed = False

    def __init__(self, kind, fd):
        self.kind = kind
        self._fd = fd
        self._parts = []
        self._size = 0
        self._cv = threading.Condition()
        self.buffer = _Bytes(self)
        threading.Thread(target=self._loop, daemon=True).start()

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not " + type(s).__name__)
        if s:
            with self._cv:
                first = not self._parts
                self._parts.append(s)
                self._size += len(s)
                if self._size >= 65536:
                    self._flush_locked()
                elif first:
                    self._cv.notify()
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def _flush_locked(self):
        if self._parts:
            text = "".join(self._parts)
            self._parts = []
            self._size = 0
            eid = _CURRENT[0]
            if eid is not None:
                _emit(eid, {"type": self.kind, "text": text, "timestamp": _ts()})

    def flush(self):
        with self._cv:
            self._flush_locked()

    def _loop(self):
        while True:
            with self._cv:
                while not self._parts:
                    self._cv.wait()
                self._cv.wait(0.05)
                self._flush_locked()

    def isatty(self):
        return False

    def fileno(self):
        return self._fd

    def writable(self):
        return True

    def readable(self):
        return False

    def seekable(self):
        return False


class _Pump:
    """Captures a file descriptor (1 or 2) through a pipe, for output that
    bypasses sys.stdout (os.write, subprocesses).  sync() waits until all
    bytes written so far have been forwarded."""

    def __init__(self, fd, kind):
        r, w = os.pipe()
        os.dup2(w, fd)
        os.close(w)
        self._fd = fd
        self._r = r
        self._kind = kind
        self._seen = threading.Event()
        self._dec = codecs.getincrementaldecoder("utf-8")("replace")
        threading.Thread(target=self._loop, daemon=True).start()

    def _out(self, b):
        if not b:
            return
        text = self._dec.decode(b)
        eid = _CURRENT[0]
        if text and eid is not None:
            _emit(eid, {"type": self._kind, "text": text, "timestamp": _ts()})

    def _loop(self):
        buf = b""
        while True:
            data = os.read(self._r, 65536)
            if not data:
                return
            buf += data
            while True:
                i = buf.find(_SYNC)
                if i < 0:
                    break
                self._out(buf[:i])
                buf = buf[i + len(_SYNC):]
                self._seen.set()
            keep = 0
            for k in range(len(_SYNC) - 1, 0, -1):
                if buf.endswith(_SYNC[:k]):
                    keep = k
                    break
            self._out(buf[:len(buf) - keep])
            buf = buf[len(buf) - keep:]

    def sync(self):
        self._seen.clear()
        os.write(self._fd, _SYNC)
        self._seen.wait(2)


_PUMPS = [_Pump(1, "stdout"), _Pump(2, "stderr")]
_STDOUT = sys.stdout = _Out("stdout", 1)
_STDERR = sys.stderr = _Out("stderr", 2)
_G = {"__name__": "__main__", "__builtins__": __builtins__}
_COUNT = [0]


def _cell_error(eid, e):
    tb = e.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell"):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(e), e, tb))
    _emit(eid, {"type": "error", "name": type(e).__name__, "value": str(e), "traceback": text})


def _run(req):
    eid = req.get("id", 0)
    _COUNT[0] += 1
    _CURRENT[0] = eid
    _emit(eid, {"type": "number_of_executions", "execution_count": _COUNT[0]})
    envs = req.get("env_vars") or {}
    saved = {k: os.environ.get(k) for k in envs}
    try:
        for k, v in envs.items():
            os.environ[str(k)] = str(v)
        code = req.get("code") or ""
        name = "<cell-%d>" % _COUNT[0]
        linecache.cache[name] = (len(code), None, code.splitlines(True), name)
        tree = ast.parse(code, name, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        if tree.body:
            exec(compile(tree, name, "exec"), _G)
        if last is not None:
            value = eval(compile(last, name, "eval"), _G)
            if value is not None:
                _G["_"] = value
                try:
                    text = repr(value)
                except BaseException as e:
                    text = "<repr failed: %s>" % type(e).__name__
                _emit(eid, {"type": "result", "text": text, "is_main_result": True})
    except BaseException as e:
        _cell_error(eid, e)
    finally:
        _STDOUT.flush()
        _STDERR.flush()
        for p in _PUMPS:
            p.sync()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _CURRENT[0] = None
        _emit(eid, {"type": "end_of_execution"})


def _main():
    while True:
        line = _REQ.readline()
        if not line:
            os._exit(0)
        try:
            req = json.loads(line)
        except ValueError:
            continue
        _run(req)


_main()
