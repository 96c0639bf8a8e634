"""One LDP address: a thread running an asyncio loop that owns its WebSocket connections (the
live tail and, when needed, a replay; or the chunks of a past window), each feeding a FrameSink
(see contract.py) of the stream.

The live connection is re-opened after any read error or dead connection, after an
exponential backoff with jitter (reset after a healthy connection). Only a refusal of the
address (HTTP 400/401/403/404) before the first connection, or an unusable setting, ends the
stream: everything else is retried for ever, so Falco never sees FAILURE for a transient fault.
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Optional

from .backoff import Backoff
from .connect import open_connection
from .contract import StreamOwner
from .failures import describe
from .lookback import read_window
from .pump import pump
from .redact import redact
from .replay import Replayer, Status, warn_if_clamped
from .tls import make_ssl_context
from .window import NS, clock, gap


def block_sigpipe():
    """A write to a connection the peer closed must give EPIPE, not kill the host: an embedded
    interpreter does not ignore SIGPIPE, and the signal goes to the writing thread."""
    try:
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPIPE})
    except (AttributeError, ValueError, OSError):
        pass


class Stream:
    def __init__(self, owner: StreamOwner, target, index: int, make_sink, dedupe=None,
                 state=None):
        self.owner = owner
        self.target = target
        self.make_sink = make_sink      # a new Feeder of this stream (queue, Dedupe, journal)
        self.sink = make_sink()         # the live connection's
        self.sink.set_late_margin(int(owner.config.ldp_replay_margin * NS))
        self.dedupe = dedupe            # kept alive with the sinks that use it
        self.state = state              # resume state (ldp/state.py StreamState), or None
        self.thread = threading.Thread(target=self._thread_main, name=f"k8saudit-ovh-ldp-{index}",
                                       daemon=True)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_lock = threading.Lock()
        self._tasks: set = set()
        self._main_task: Optional[asyncio.Task] = None
        self.replayer: Optional[Replayer] = None
        self.window = None              # a past window's progress (lookback.Progress)
        # read by the statistics and the resume state (other threads)
        self.connected_since: Optional[float] = None
        self.frames = 0
        self.events = 0
        self.last_error = ""
        self.last_alive_wall: Optional[float] = None   # last frame or pong of the live connection
        self.first_outcome = threading.Event()
        self.fatal: Optional[str] = None
        self.finished = False           # a past window was read to its end

    # -- thread / loop
    def _thread_main(self):
        block_sigpipe()
        loop = None
        try:
            loop = asyncio.new_event_loop()
            with self._loop_lock:
                self.loop = loop
            loop.run_until_complete(self._main())
        except Exception as exc:  # a bug here must not end the stream silently
            self.owner.log.error("LDP %s: stream thread failed: %s", self.target.display,
                                 redact(f"{type(exc).__name__}: {exc}"), exc_info=True)
            self._fail(f"k8saudit-ovh: LDP stream {self.target.display} failed: "
                       f"{type(exc).__name__}: {exc}")
        finally:
            self.first_outcome.set()
            if loop is not None:
                self._close_loop(loop)

    def _close_loop(self, loop):
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=0.5))
        except Exception:
            pass
        # abort() must never write to the self-pipe of a closed loop: that write would
        # raise SIGPIPE in the calling (host) thread, where nothing ignores it.
        with self._loop_lock:
            self.loop = None
        loop.close()

    def _fail(self, message: str):
        self.fatal = redact(message, (self.target.token,))
        self.first_outcome.set()
        self.owner.stream_failed(self.fatal)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task):
        self._tasks.discard(task)
        if task is self._main_task or task.cancelled() or task.exception() is None:
            return      # the main task's exception reaches _thread_main through its await
        # A background task (a replay, a keepalive) that fails is a bug: nobody awaits it,
        # so without this its exception would vanish and the stream would go on half-dead.
        exc = task.exception()
        self.owner.log.error("LDP %s: stream task failed: %s", self.target.display,
                             redact(f"{type(exc).__name__}: {exc}"), exc_info=exc)
        self._fail(f"k8saudit-ovh: LDP stream {self.target.display} failed: "
                   f"{type(exc).__name__}: {exc}")
        self._cancel_all()

    async def _main(self):
        if self.owner.stopping.is_set():
            return
        ssl_ctx = (make_ssl_context(self.owner.config.ldp_ca_file)
                   if self.target.secure else None)
        self.replayer = Replayer(self.owner, self.target, self.make_sink, self._spawn, ssl_ctx,
                                 self.state)
        if self.target.is_window:
            main = self._spawn(read_window(self, ssl_ctx))
        else:
            main = self._spawn(self._live(ssl_ctx))
        live = self._main_task = main
        try:
            await live
        except asyncio.CancelledError:
            pass

    def _cancel_all(self):
        for t in list(self._tasks):
            t.cancel()

    def abort(self):
        with self._loop_lock:
            loop = self.loop
            if loop is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(self._cancel_all)
                except RuntimeError:
                    pass

    def start(self):
        self.thread.start()

    def join(self, timeout: float) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    # -- after a restart: the window missed while the plugin was down, before going live
    async def _resume(self) -> bool:
        """False when the stream must end (stopping, or the address is refused)."""
        cfg, log = self.owner.config, self.owner.log
        rp = self.state.resume
        started = time.time()
        # The position already has its margin (state.py): no second one.
        w = gap(rp.begin_ns / NS, started, cfg.ldp_replay_max_window, 0)
        if self.dedupe is not None:
            self.dedupe.preload(self.state.journal, w.begin * NS)
        log.info("LDP %s: resuming from %s of LDP's clock (%s, minus ldpReplayMargin): "
                 "replaying [%d, %d] before going live; %d events delivered since are dropped "
                 "if they come again", self.target.display, clock(rp.begin_ns / NS), rp.why,
                 w.begin, w.end, rp.kept)
        warn_if_clamped(log, self.target, w)
        hold = self.replayer.hold(w)
        outcome = await self.replayer.run(w, kind="resume replay")
        if outcome.status is Status.STOPPING:
            return False
        self.replayer.release(hold, inherited=True)
        if outcome.status is Status.REFUSED:
            self._fail(f"k8saudit-ovh: {self.target.display}: {outcome.message}")
            return False
        # What LDP received during the resume replay comes with the catch-up replay that the
        # first live connection schedules.
        self.last_alive_wall = started
        return True

    # -- the live connection
    async def _live(self, ssl_ctx):
        owner = self.owner
        log, cfg, stop = owner.log, owner.config, owner.stopping
        if self.state is not None and self.state.resume is not None and not await self._resume():
            return
        backoff = Backoff(cfg.ldp_min_backoff, cfg.ldp_max_backoff)
        ever = False
        catch_up = self.last_alive_wall is not None
        down_since_wall = None
        while not stop.is_set():
            try:
                ws = await open_connection(self.target, cfg, ssl_ctx=ssl_ctx, logger=owner.ws_log)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                fatal, msg = describe(exc, self.target, cfg.ldp_connect_timeout)
                self.last_error = msg
                if fatal and not ever:
                    self._fail(f"k8saudit-ovh: {self.target.display}: {msg}")
                    return
                delay = backoff.next()
                log.warning("LDP %s: %s; retrying in %.1fs", self.target.display, msg, delay)
                self.first_outcome.set()
                await asyncio.sleep(delay)
                continue
            now_wall = time.time()
            self.connected_since = time.monotonic()
            previous_alive = self.last_alive_wall
            self.last_alive_wall = now_wall
            owner.stream_connected(self, True)
            if ever:
                owner.counters.add("reconnects", 1)
                log.info("LDP %s: reconnected (down %.1fs)", self.target.display,
                         now_wall - (down_since_wall or now_wall))
            else:
                log.info("LDP %s: connected", self.target.display)
            # After a resume, the few seconds of the handover are fetched whatever
            # ldpReplayOnReconnect says: the resume promises nothing lost.
            if (ever and cfg.ldp_replay) or (catch_up and not ever):
                self.replayer.schedule(gap(self._resume_from(previous_alive or down_since_wall
                                                             or now_wall),
                                           now_wall, cfg.ldp_replay_max_window,
                                           cfg.ldp_replay_margin))
            ever = True
            self.first_outcome.set()
            try:
                end = await pump(ws, self.sink, cfg, self._spawn, self._on_frame, self._on_pong)
            finally:
                ws.transport.abort()
                owner.stream_connected(self, False)
            up = time.monotonic() - self.connected_since
            self.connected_since = None
            down_since_wall = time.time()
            if end.stopping or stop.is_set():
                return
            backoff.after_connection(up)
            reason = self.last_error = end.reason
            delay = backoff.next()
            log.warning("LDP %s: %s after %.1fs; reconnecting in %.1fs", self.target.display,
                        reason, up, delay)
            await asyncio.sleep(delay)

    def _resume_from(self, alive_wall: float) -> float:
        """Where a reconnect's replay starts, before its margin: the last sign of life, or the
        newest frame's LDP time when LDP's clock is behind ours (frames are selected by it)."""
        newest = self.sink.stats()["newest_frame_ns"]
        return min(alive_wall, newest / NS) if newest else alive_wall

    def _on_frame(self, n: int):
        self.frames += 1
        self.events += n
        self.last_alive_wall = time.time()

    def _on_window_events(self, n: int):
        self.frames += 1
        self.events += n

    def _on_pong(self):
        self.last_alive_wall = time.time()
