#!/usr/bin/env python3
"""The fault scenarios (README "The lab"), run in the namespace lab (lab.py) against the real
failoverd, BIND9 and nginx. Each test builds a fresh world, starts the watcher (the DNS answer
as the client namespace sees it, every 10 ms), injects its fault and checks, besides its own
pass condition, the invariants over every sample: the answer is never empty, the fence
generation never decreases, at most one region is active. Each test prints its timeline.

usage: lab_test.py FAILOVERD FAILOVERCTL [--only P1,F1] [--skip P1,F1] [unittest args]
Runs as root. FAILOVERD_LAB_KEEP=DIR keeps each world's logs (keys excluded) under DIR.
"""
import calendar
import os
import re
import signal
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as labmod  # noqa: E402
from lab import Lab, OBSERVERS, REGIONS, region_addrs, wait_until  # noqa: E402

FAILOVERD = FAILOVERCTL = None
PUBLISH = {r: region_addrs(r) for r in REGIONS}
# Probes every 200 ms, fall 3, verdicts exchanged every 200 ms: the quorum can confirm a dead
# region within about a second. The budget leaves room for a loaded 2-core machine.
DETECTION_BUDGET = 8.0
QUIET = 3.0  # how long "nothing happens" is watched for, after the fault has taken effect
# Scenarios that show a known product issue: run only when named with --only. None today.
KNOWN_ISSUES = set()


def world(**options):
    """Decorates a scenario with Lab options for its world (observer_env, observer_secret, ...)."""
    def decorate(test):
        test.lab_options = options
        return test
    return decorate


def failpoint(spec, *nodes):
    """Lab options arming FAILOVERD_FAILPOINT=spec in the given observers (default obs-a)."""
    return {"observer_env": {n: {"FAILOVERD_FAILPOINT": spec} for n in (nodes or ("o1",))}}


class LabTest(unittest.TestCase):
    service = None  # overrides of [services.www]

    def setUp(self):
        keep = os.environ.get("FAILOVERD_LAB_KEEP")
        self.started = time.monotonic()
        options = getattr(getattr(self, self._testMethodName), "lab_options", {})
        self.lab = Lab(FAILOVERD, FAILOVERCTL, service=self.service,
                       keep_dir=os.path.join(keep, self.id().rsplit(".", 1)[-1]) if keep else None,
                       quiet=True, **options)
        self.addCleanup(self.finish)
        self.lab.up()
        self.watch = self.lab.watch()

    def finish(self):
        self.lab.print_timeline(self.id().rsplit(".", 1)[-1])
        self.lab.down()
        left = labmod.lab_namespaces(self.lab.prefix)
        print(f"  {self.id().rsplit('.', 1)[-1]}: {time.monotonic() - self.started:.1f}s, "
              f"namespaces left: {len(left)}", file=sys.stderr)
        self.assertEqual(left, [], "namespaces left behind")

    # --- shared checks ----------------------------------------------------------------------
    def assert_invariants(self, excused=()):
        problems = self.watch.violations(PUBLISH, excused)
        self.assertEqual(problems[:5], [], f"{len(problems)} invariant violations")
        good = [s for s in self.watch.samples() if s["a"]]
        self.assertGreater(len(good), 50, "the watcher saw too few answers")

    def wait(self, what, predicate, timeout):
        value = wait_until(predicate, timeout, 0.05)
        self.assertTrue(value, f"timed out after {timeout}s waiting for: {what}")
        self.lab.mark(what)
        return value

    def quiet_for(self, seconds, approved):
        """Watches for `seconds` that BIND approves no UPDATE beyond `approved` and the answer
        and fence stay put; fails at the first change."""
        answer, fence = self.lab.answer(), self.lab.fence()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.assertEqual(self.lab.approved_updates(), approved,
                             "an UPDATE was approved\n" + self.lab.log("named")[-3000:])
            self.assertEqual(self.lab.answer(), answer)
            self.assertEqual(self.lab.fence(), fence)
            time.sleep(0.1)
        self.lab.mark(f"quiet for {seconds}s: answer, fence and UPDATE count unchanged")

    def settled_after_race(self, applied):
        """After a heal the observers regain their quorum views at different moments, so the
        writer stagger cannot always keep a second observer from sending the same failover: its
        compare-and-swap then loses at BIND. What must hold: `applied` UPDATEs applied, at most
        one attempt per observer for each, and then a quiet window with no attempt at all."""
        self.quiet_for(QUIET, approved=self.lab.approved_updates())
        self.assertEqual(self.lab.accepted_updates(), applied, self.lab.log("named")[-3000:])
        self.assertLessEqual(self.lab.approved_updates(), applied * len(OBSERVERS),
                             self.lab.log("named")[-3000:])
        self.lab.mark(f"UPDATEs: {self.lab.approved_updates()} sent, "
                      f"{self.lab.accepted_updates()} applied")

    def operator(self, node, *args):
        """failoverctl ARGS against `node`'s admin API, as the operator `lab`: must succeed."""
        r = self.lab.ctl_raw(node, *args)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        shown = list(args[:args.index("--reason")] if "--reason" in args else args)
        self.lab.mark(f"failoverctl {' '.join(shown)} ({OBSERVERS[node]})")

    def frozen_by(self, node, observer, reason):
        """Whether `node` reports the service frozen by token `lab` on `observer` for `reason`."""
        svc = self.lab.service(node) or {}
        return bool(svc.get("frozen")) and any(
            h.get("kind") == "freeze" and h.get("by") == "lab" and h.get("observer") == observer
            and h.get("reason") == reason and h.get("since") for h in svc.get("holds", []))

    def local(self, node, region):
        row = self.lab.region_row(node, region)
        return row and row["local"]

    def confirmed(self, node, region):
        row = self.lab.region_row(node, region)
        return row and row["confirmed"]

    def answer_is(self, region):
        samples = self.watch.samples()
        return bool(samples) and samples[-1]["a"] == PUBLISH[region]

    def generations(self):
        """The fence generations the watcher saw, in order, each once."""
        out = []
        for s in self.watch.samples():
            if s["gen"] is not None and (not out or out[-1] != s["gen"]):
                out.append(s["gen"])
        return out

    def journaled(self, node, kind):
        """How many entries of `kind` (e.g. "actuator_refused") an observer's journal holds."""
        return sum(1 for e in self.lab.events(node, 1000) if e["kind"] == kind)

    def wait_all_read(self, gen, region, timeout):
        """Waits until every observer has read fence generation `gen` with `region` active."""
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} reads generation {gen}, {region} active",
                      lambda: (self.lab.service(node) or {}).get("generation") == gen
                      and self.lab.service(node)["active"] == [region], timeout)

    def wait_stopped(self, names):
        for name in names:
            self.wait(f"{name} stopped by its failpoint (SIGSTOP)",
                      lambda: self.lab.proc_state(name) == "T", 20)

    def last_event_ids(self):
        return {n: max([e["id"] for e in self.lab.events(n)] or [0]) for n in OBSERVERS}

    def alerts(self, node, after=None):
        """(kind, rule) of the alerts, refusals and abstentions in an observer's journal, newer
        than event id after[node] when given."""
        out = []
        for e in self.lab.events(node):
            if after and e["id"] <= after[node]:
                continue
            if e["kind"] in ("alert", "plan_refused", "observer_impaired"):
                m = re.search(r"\brule=(\S+)", e.get("detail", ""))
                out.append((e["kind"], m.group(1) if m else None))
        return out

    # --- scenarios --------------------------------------------------------------------------
    def test_p1_one_observer_cut_off_from_the_primary(self):
        lab = self.lab
        lab.cut("o3", "r1", "drop")
        self.wait("obs-c sees r1 down itself", lambda: self.local("o3", "r1") == "down", 15)

        def c_vote_seen_by(node):
            row = lab.region_row(node, "r1")
            votes = {v["observer"]: v["verdict"] for v in row["votes"]} if row else {}
            return row and row["confirmed"] == "up" and votes.get("obs-c") == "down"
        for node in ("o1", "o2"):
            self.wait(f"{OBSERVERS[node]} counts obs-c's down vote, r1 still confirmed up",
                      lambda: c_vote_seen_by(node), 10)
        # The disagreement is in obs-c's own metrics: its verdict down (3), the quorum's up (1).
        self.assertEqual(lab.metric("o3", "failoverd_region_verdict", observer="obs-c",
                                    region="r1"), 3)
        self.assertEqual(lab.metric("o3", "failoverd_region_confirmed_state", region="r1"), 1)
        why = lab.ctl("o3", "why", "www")
        r1 = next(r for r in why["regions"] if r["name"] == "r1")
        self.assertEqual((r1["local"], r1["confirmed"]), ("down", "up"), why)
        self.quiet_for(QUIET, approved=0)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        for node in OBSERVERS:
            self.assertEqual(lab.metric(node, "failoverd_failovers_total"), 0, node)
            self.assertEqual(lab.service(node)["active"], ["r1"], node)
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"]])
        self.assert_invariants()

    def test_p2_a_minority_refused_by_the_primary(self):
        lab = self.lab
        # One of three observers is a minority; this time one-way and refused, not silent.
        lab.cut("o2", "r1", "reject", both=False)
        self.wait("obs-b sees r1 down itself", lambda: self.local("o2", "r1") == "down", 15)
        self.assertGreater(lab.metric("o2", "failoverd_probe_results_total", reason="refused"), 0)
        self.quiet_for(QUIET, approved=0)
        for node in OBSERVERS:
            self.assertEqual(self.confirmed(node, "r1"), "up", node)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"]])
        self.assert_invariants()

    def test_f1_primary_region_hard_down(self):
        lab = self.lab
        lab.region_down("r1")
        killed = time.monotonic()
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 30)
        detection = time.monotonic() - killed
        self.assertLess(detection, DETECTION_BUDGET, "failover slower than the budget")
        self.wait_all_read(2, "r2", 10)
        self.quiet_for(QUIET, approved=1)
        self.assertEqual(lab.approved_updates(), 1, lab.log("named")[-3000:])
        self.assertEqual(lab.fence()[0], 2)
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"]])
        self.assertEqual(sum(lab.metric(n, "failoverd_failovers_total") for n in OBSERVERS), 1)
        self.assert_invariants()

    def test_f2_every_region_down(self):
        lab = self.lab
        # The standbys die first, then the primary: from then on every region is down.
        for region in ("r2", "r3"):
            lab.region_down(region)
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} confirms r2 and r3 down",
                      lambda: self.confirmed(node, "r2") == self.confirmed(node, "r3") == "down",
                      15)
        self.quiet_for(1.0, approved=0)
        seen = self.last_event_ids()
        lab.region_down("r1")
        fail_static = {"all_regions_down", "observer_impaired", "no_quorum"}

        def alerted(node):
            return any(k == "alert" and r in fail_static for k, r in self.alerts(node, seen))
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} alerts (fail static)", lambda: alerted(node), 15)
        self.quiet_for(QUIET, approved=0)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"]])
        rules = sorted({f"{k}:{r}" for n in OBSERVERS for k, r in self.alerts(n, seen)})
        lab.mark("after r1 died: " + " ".join(rules))
        self.assert_invariants()

    def test_f2x_every_region_down_at_once(self):
        """Every region dies within one probe interval (here 150 ms apart): r1 is confirmed
        down while the standbys have failed fewer than `fall` probes and are still confirmed up.
        No observer may move the traffic to them: a failover target must be seen serving by a
        probe that started after the primary was confirmed down (rule target_suspect)."""
        lab = self.lab
        seen = self.last_event_ids()
        for region in REGIONS:
            lab.region_down(region)
            time.sleep(0.15)  # the fault: regions die 150 ms apart (less than a probe interval)
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} alerts", lambda: any(
                k == "alert" for k, _ in self.alerts(node, seen)), 15)
        self.quiet_for(QUIET, approved=0)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        self.assert_invariants()

    def test_p4_observers_partitioned_from_each_other(self):
        lab = self.lab
        lab.cut("o1", ["o2", "o3"], "drop")
        lab.cut("o2", "o3", "drop")

        def alone(node):
            status = lab.ctl(node, "status")
            return status and all((p["last_seen_seconds_ago"] or 99) > 1.5
                                  for p in status["peers"])
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} hears no peer", lambda: alone(node), 15)
        self.quiet_for(QUIET, approved=0)
        # A minority never acts: even with the primary dead, one vote of three confirms nothing.
        lab.region_down("r1")
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} sees r1 down alone",
                      lambda: self.local(node, "r1") == "down", 15)
        self.quiet_for(QUIET, approved=0)
        for node in OBSERVERS:
            self.assertNotEqual(self.confirmed(node, "r1"), "down", node)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        # Healed, the quorum forms again and the dead primary is replaced, once.
        lab.heal()
        self.wait("the answer is r2's after the heal", lambda: self.answer_is("r2"), 30)
        self.settled_after_race(applied=1)
        self.assertEqual(lab.fence()[0], 2)
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"]])
        self.assert_invariants()

    def test_p3_one_observer_fully_isolated(self):
        lab = self.lab
        lab.cut("o3", REGIONS + ["o1", "o2", "dns", "client"], "drop")

        def abstains():
            return all(lab.metric("o3", "failoverd_region_verdict", observer="obs-c",
                                  region=r) == 0 for r in REGIONS) and \
                ("observer_impaired", "observer_impaired") in self.alerts("o3")
        self.wait("obs-c abstains (verdict unknown on every region, observer_impaired)",
                  abstains, 15)
        # The other two still form a quorum (2 of 3) and fail over when r1 dies.
        lab.region_down("r1")
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 30)
        self.quiet_for(1.0, approved=1)
        self.assertEqual(lab.service("o3")["generation"], 1, "obs-c cannot have read gen 2")
        lab.heal()
        self.wait("obs-c re-reads the target: generation 2, r2 active",
                  lambda: (lab.service("o3") or {}).get("generation") == 2
                  and lab.service("o3")["active"] == ["r2"], 15)
        self.quiet_for(QUIET, approved=1)
        gen, writer = lab.fence()
        self.assertEqual(gen, 2)
        self.assertIn(writer, ("obs-a", "obs-b"))
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"]])
        self.assert_invariants()

    def test_p5_primary_unreachable_for_half_the_detection_time(self):
        lab = self.lab
        # fall 3 at 200 ms: a region needs ~600 ms of failures to go down. Cut it for 300 ms.
        before = sum(lab.metric(n, "failoverd_probe_results_total", reason="timeout")
                     for n in OBSERVERS)
        start, end = lab.blip("r1", list(OBSERVERS), 0.3)
        self.wait("the cut has expired", lambda: time.monotonic() > end + 0.2, 2)
        self.quiet_for(QUIET, approved=0)
        after = sum(lab.metric(n, "failoverd_probe_results_total", reason="timeout")
                    for n in OBSERVERS)
        lab.mark(f"probe timeouts during the cut: {after - before:.0f}")
        self.assertGreater(after, before, "the cut was not seen by any probe")
        for node in OBSERVERS:
            self.assertEqual(self.confirmed(node, "r1"), "up", node)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"]])
        self.assert_invariants()

    def test_f5_primary_recovers_manual_failback(self):
        lab = self.lab
        lab.region_down("r1")
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 30)
        lab.region_up("r1")
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} confirms r1 up again",
                      lambda: self.confirmed(node, "r1") == "up", 15)
        # failback = "manual": r1 is healthy, yet nothing moves by itself.
        self.quiet_for(QUIET, approved=1)
        self.operator("o2", "failback", "www", "--reason", "lab: r1 is back")
        self.wait("the answer is r1's again", lambda: self.answer_is("r1"), 10)
        self.quiet_for(QUIET, approved=2)
        self.assertEqual(lab.fence(), (3, "obs-b"))
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"], PUBLISH["r1"]])
        self.assert_invariants()

    def test_k2_all_observers_restarted_at_once(self):
        lab = self.lab
        for node, obs in OBSERVERS.items():
            lab.stop(obs, signal.SIGKILL)
        lab.mark("kill -9 every observer")
        lab.region_down("r1")
        for node in OBSERVERS:
            lab.start_observer(node)
        lab.mark("every observer restarted")
        # They come back with r1 dead: after a fresh quorum, exactly one failover.
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 30)
        self.quiet_for(QUIET, approved=1)
        self.assertEqual(lab.fence()[0], 2)
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"]])
        self.assert_invariants()

    def test_m1_admin_api_is_local_and_authenticated(self):
        lab = self.lab
        # Bound to loopback inside the observer's namespace: nothing reaches it from outside.
        r = lab.nsexec("client", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2",
                       "http://10.77.10.1:8649/v1/status")
        self.assertEqual(r.stdout, "000", r.stdout)
        # Inside: no token, a wrong token -> 401; failoverctl exits 4.
        r = lab.nsexec("o1", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "2",
                       "http://127.0.0.1:8649/v1/status")
        self.assertEqual(r.stdout, "401")
        r = lab.ctl_raw("o1", "failover", "www", "--to", "r2", "--reason", "x",
                        token="not-the-token-not-the-token")
        self.assertEqual(r.returncode, 4, r.stderr)
        lab.mark("admin: unreachable from the client namespace, 401 without a token")
        # Every region off by hand, even forced: refused by the never-empty rule.
        r = lab.ctl_raw("o1", "failover", "www", "--to", "none", "--force", "--reason", "lab")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("empty_set", r.stderr)
        lab.mark("manual 'every region off' (--to none --force) refused: empty_set")
        # A manual failover to a region the quorum sees down is refused without --force.
        lab.region_down("r2")
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} confirms r2 down",
                      lambda: self.confirmed(node, "r2") == "down", 15)
        r = lab.ctl_raw("o1", "failover", "www", "--to", "r2", "--reason", "lab")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("target_confirmed_down", r.stderr)
        lab.mark("manual failover to dead r2 refused: target_confirmed_down")
        self.quiet_for(1.0, approved=0)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        self.assert_invariants()

    # --- K1: kill -9 at each step of the failover's write (failpoints, actuate/failpoint.h) ---
    def kill_at(self, point):
        """Every observer is armed with `point`:kill, r1 dies: whoever writes the failover first
        (normally obs-a, the lowest id, but one whose plan did not hold obs-a's vote yet may go
        first) dies by SIGKILL at that step, and any other that gets there too. The answer stays
        valid; the dead are restarted with no failpoint; exactly one UPDATE is applied overall and
        the fence goes 1 -> 2 once. Returns (fence, killed node -> observer address)."""
        lab = self.lab
        lab.region_down("r1")

        def killed():
            return {n: labmod.observer_addr(n) for n, obs in OBSERVERS.items()
                    if lab.exit_code(obs) == -signal.SIGKILL}
        self.wait(f"a writer killed at {point}", lambda: killed(), 20)
        self.wait("the answer is r2's, or every observer is dead",
                  lambda: self.answer_is("r2") or len(killed()) == len(OBSERVERS), 15)
        # The others' deferred plans (at most 2 x 200 ms of stagger) resolve before the restart.
        settle = time.monotonic() + 1.5
        self.wait("1.5 s more: the others' deferred plans resolved",
                  lambda: time.monotonic() > settle, 3)
        dead = killed()
        for node in dead:
            self.assertIn(f"failpoint {point}:kill reached", lab.log(OBSERVERS[node]))
        lab.mark(f"killed at {point}: {', '.join(OBSERVERS[n] for n in dead)}")
        sent_before_restart = {n: lab.named_log_count(addr + "#", "approved")
                               for n, addr in dead.items()}
        for node in dead:
            lab.start_observer(node, env={})
        lab.mark("restarted with no failpoint: " + ", ".join(OBSERVERS[n] for n in dead))
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 30)
        self.wait_all_read(2, "r2", 20)
        self.quiet_for(QUIET, approved=lab.approved_updates())
        self.assertEqual(lab.accepted_updates(), 1, lab.log("named")[-3000:])
        fence = lab.fence()
        self.assertEqual(fence[0], 2)
        self.assertEqual(self.generations(), [1, 2])
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"]])
        self.assert_invariants()
        return fence, dead, sent_before_restart

    @world(**failpoint("before_send:kill", *OBSERVERS))
    def test_k1_kill_before_send(self):
        fence, dead, sent = self.kill_at("before_send")
        # Nothing of the dead reached BIND before their restart: the one write is a survivor's,
        # or, when all died, made after the restart.
        self.assertEqual(sent, {n: 0 for n in dead})

    def assert_dead_writer(self, fence, dead, sent):
        """The fence is a dead observer's: its UPDATE reached BIND before it died."""
        writer = next((n for n in dead if OBSERVERS[n] == fence[1]), None)
        self.assertIsNotNone(writer, f"fence {fence}, killed {sorted(dead)}")
        self.assertGreaterEqual(sent[writer], 1)

    @world(**failpoint("after_send:kill", *OBSERVERS))
    def test_k1_kill_after_send(self):
        # The UPDATE was on the wire when its writer died: BIND applied it, nobody sent it again.
        self.assert_dead_writer(*self.kill_at("after_send"))

    @world(**failpoint("after_response:kill", *OBSERVERS))
    def test_k1_kill_after_response(self):
        self.assert_dead_writer(*self.kill_at("after_response"))

    @world(**failpoint("during_verify:kill", *OBSERVERS))
    def test_k1_kill_during_verify(self):
        self.assert_dead_writer(*self.kill_at("during_verify"))

    # --- A1-A5: the target misbehaves --------------------------------------------------------
    @world(**failpoint("before_send:stop", *OBSERVERS))
    def test_a1_a_delayed_writer_fails_its_prerequisite(self):
        lab = self.lab
        lab.region_down("r1")
        # Every observer reads generation 1 for its failover and stops right before sending.
        self.wait_stopped(OBSERVERS.values())
        # g+1: obs-b goes on and writes; g+2: an operator moves www to r3, by CAS too.
        lab.resume("obs-b")
        self.wait("obs-b writes generation 2 (r2)",
                  lambda: lab.fence() == (2, "obs-b") and self.answer_is("r2"), 15)
        r3 = region_addrs("r3")
        self.assertEqual(lab.nsupdate(
            f'prereq yxrrset {labmod.FENCE} TXT "gen=2 writer=obs-b"',
            f"update delete {labmod.NAME} A",
            f"update add {labmod.NAME} 5 A {r3[0]}",
            f"update add {labmod.NAME} 5 A {r3[1]}",
            f"update delete {labmod.FENCE} TXT",
            f'update add {labmod.FENCE} 5 TXT "gen=3 writer=lab-operator"'), 0)
        self.wait("generation 3 by the operator, r3 active",
                  lambda: lab.fence() == (3, "lab-operator") and self.answer_is("r3"), 10)
        approved = lab.approved_updates()
        for node in ("o1", "o3"):
            lab.resume(OBSERVERS[node])
        for node in ("o1", "o3"):
            obs, addr = OBSERVERS[node], labmod.observer_addr(node)
            self.wait(f"{obs}'s delayed UPDATE fails its prerequisite at BIND",
                      lambda: lab.named_log_count(addr + "#", "prerequisite not satisfied") == 1,
                      10)
            self.wait(f"{obs} counts the write as a conflict",
                      lambda: lab.metric(node, "failoverd_actuator_writes_total",
                                         status="conflict") == 1, 10)
        self.wait_all_read(3, "r3", 10)
        self.quiet_for(QUIET, approved=approved + 2)
        self.assertEqual(lab.accepted_updates(), 2, lab.log("named")[-3000:])
        self.assertEqual(lab.fence(), (3, "lab-operator"))
        self.assertEqual(self.generations(), [1, 2, 3])
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"], PUBLISH["r3"]])
        self.assert_invariants()

    def test_a2_update_reply_lost_after_bind_applied_it(self):
        lab = self.lab
        dropped = lab.drop_update_replies(list(OBSERVERS))
        lab.region_down("r1")
        self.wait("the answer is r2's: BIND applied the writer's UPDATE",
                  lambda: self.answer_is("r2"), 15)
        gen, obs = lab.fence()
        self.assertEqual(gen, 2)
        writer = next(n for n, o in OBSERVERS.items() if o == obs)

        def resolved():
            kinds = [e["kind"] for e in lab.events(writer)]
            return "actuator_unknown" in kinds and "actuator_applied" in kinds
        self.wait(f"{obs} (the writer): no reply (unknown), its read-back finds generation 2 "
                  "(applied)", resolved, 15)
        self.assertGreaterEqual(lab.counter("dns", dropped), 1, "no UPDATE reply was dropped")
        self.quiet_for(QUIET, approved=lab.approved_updates())
        # One UPDATE from the writer, no second one; another observer that raced it lost the
        # compare-and-swap (its reply dropped too): never a retry.
        self.assertEqual(lab.accepted_updates(), 1, lab.log("named")[-3000:])
        self.assertEqual(lab.metric(writer, "failoverd_actuator_writes_total"), 1)
        self.assertEqual(lab.metric(writer, "failoverd_actuator_writes_total", status="unknown"),
                         1)
        for node in OBSERVERS:
            self.assertEqual(self.journaled(node, "actuator_retry"), 0, node)
        self.assertEqual(lab.fence(), (2, obs))
        self.assertEqual(self.generations(), [1, 2])
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"]])
        self.assert_invariants()

    @world(**failpoint("before_send:stop", *OBSERVERS))
    def test_a3_dns_server_down_during_the_failover(self):
        lab = self.lab
        lab.region_down("r1")
        # Every observer stops just before sending its UPDATE (obs-a first, the others after
        # their stagger, having read generation 1 too); then BIND becomes unreachable.
        self.wait_stopped(OBSERVERS.values())
        syn = {n: lab.add_rule(n, "ip", "daddr", labmod.DNS_ADDR, "tcp", "dport", "53", "tcp",
                               "flags", "syn", "counter") for n in OBSERVERS}
        lab.cut("dns", list(OBSERVERS), "reject")
        for name in OBSERVERS.values():
            lab.resume(name)
        down_at = time.monotonic()
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} alerts: target unreachable",
                      lambda: self.journaled(node, "actuator_unreachable") >= 1, 15)
        self.wait("3 s with BIND unreachable", lambda: time.monotonic() > down_at + 3, 4)
        attempts = {n: lab.counter(n, h) for n, h in syn.items()}
        lab.mark("TCP connections tried during the cut: "
                 + ", ".join(f"{OBSERVERS[n]} {c}" for n, c in attempts.items()))
        for node, count in attempts.items():
            # Refused at once, so only the backoff spaces them: a hot loop would make thousands.
            self.assertGreaterEqual(count, 2, node)
            self.assertLessEqual(count, 25, node)
            gaps = self.unreachable_gaps(OBSERVERS[node])
            lab.mark(f"{OBSERVERS[node]}: seconds between failed reads "
                     + " ".join(f"{g:.2f}" for g in gaps))
            self.assertGreater(max(gaps, default=0), 0.4, "the backoff never grew past its base")
        self.assertEqual(lab.approved_updates(), 0)
        lab.heal()
        # Each observer's next try comes when its backoff says (capped at 30 s).
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 35)
        self.wait_all_read(2, "r2", 35)
        self.quiet_for(QUIET, approved=lab.approved_updates())
        self.assertEqual(lab.accepted_updates(), 1, lab.log("named")[-3000:])
        lab.mark(f"UPDATEs: {lab.approved_updates()} sent, {lab.accepted_updates()} applied")
        self.assertEqual(lab.fence()[0], 2)
        self.assertEqual(self.generations(), [1, 2])
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"]])
        self.assert_invariants()

    def actuator_log_times(self, obs, event):
        """Wall times (seconds) of an observer's actuator log lines for `event` (its log)."""
        times = []
        for line in self.lab.log(obs).splitlines():
            m = re.match(r'ts=(\S+)Z level=\S+ msg=(?:actuator|"actuator alert") ', line)
            if m and f" event={event} " in line:
                stamp = m.group(1)
                times.append(calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
                             + float("0" + stamp[19:]))
        return times

    def unreachable_gaps(self, obs):
        """Seconds between an observer's successive failed reads of the target."""
        times = self.actuator_log_times(obs, "unreachable")
        return [b - a for a, b in zip(times, times[1:])]

    def refused_no_loop(self, bind_lines):
        """Every observer alerted once that the target refused it and is blocked (retrying with
        capped backoff); r1 then dies and for QUIET seconds what reaches BIND stays within the
        backoff's bound (`bind_lines` counts what BIND logged), nothing is applied or assumed
        applied: answer and fence unchanged, one alert per observer for the one cause."""
        lab = self.lab
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} alerts: refused by the target",
                      lambda: self.journaled(node, "actuator_refused") >= 1, 15)
        lab.mark(f"BIND logged {bind_lines()} refusals")
        self.quiet_for(1.0, approved=0)
        seen = bind_lines()
        lab.region_down("r1")
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} confirms r1 down",
                      lambda: self.confirmed(node, "r1") == "down", 15)
        self.quiet_for(QUIET, approved=0)
        # Full-jitter backoff from 200 ms doubling to 30 s: at most ~8 tries each in the ~10 s
        # watched (a hot loop would be thousands).
        retries = bind_lines() - seen
        lab.mark(f"BIND logged {retries} more refusals while watched")
        self.assertLessEqual(retries, 8 * len(OBSERVERS), "the refused observers loop")
        for node in OBSERVERS:
            self.assertTrue((lab.service(node) or {}).get("blocked"), node)
            self.assertEqual(self.journaled(node, "actuator_refused"), 1, node)
            self.assertEqual(self.journaled(node, "actuator_applied"), 0, node)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"]])
        self.assert_invariants()

    @world(observer_secret="wrong")
    def test_a4_wrong_tsig_key(self):
        # Reads are signed too: the first one is refused (BADSIG), so nothing is ever written.
        self.refused_no_loop(lambda: self.lab.named_log_count("invalid signature"))
        self.assertGreaterEqual(self.lab.named_log_count("invalid signature"), 3)

    @world(update_key="other")
    def test_a4_update_refused(self):
        lab = self.lab
        lab.region_down("r1")
        # The key may query, not update: each observer's failover UPDATE is REFUSED, once.
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} alerts: UPDATE refused",
                      lambda: self.journaled(node, "actuator_refused") >= 1, 20)
        self.quiet_for(QUIET, approved=0)
        self.assertEqual(lab.named_log_count("update 'lab.test/IN' denied"), 3,
                         lab.log("named")[-3000:])
        for node in OBSERVERS:
            self.assertEqual(self.journaled(node, "actuator_refused"), 1, node)
            self.assertEqual(lab.metric(node, "failoverd_actuator_writes_total",
                                        status="refused"), 1, node)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"]])
        self.assert_invariants()

    def test_a5_rrset_emptied_or_fence_deleted_by_hand(self):
        lab = self.lab
        excused = []
        interval = 1.0  # reconcile_interval of the lab's service
        for edit, damage, gen in (("update delete www.lab.test. A", "empty", 2),
                                  ("update delete _failoverd.www.lab.test. TXT", "no fence", 3)):
            start, wall = time.monotonic(), time.time()
            self.assertEqual(lab.nsupdate(edit), 0)
            for node in OBSERVERS:
                self.wait(f"{OBSERVERS[node]} freezes www",
                          lambda: (lab.service(node) or {}).get("frozen"), 10)
            for node, obs in OBSERVERS.items():
                detected = self.frozen_at(obs, wall) - wall
                lab.mark(f"{obs} froze {detected:.3f}s after the edit (alert)")
                self.assertLess(detected, interval + 0.5, obs)
            # Frozen: nothing repairs it by itself.
            self.quiet_for(1.5, approved=lab.approved_updates())
            r = lab.ctl_raw("o1", "restore", "www", "--reason", "lab: A5")
            self.assertEqual(r.returncode, 0, r.stderr)
            lab.mark("failoverctl restore www (obs-a)")
            self.wait(f"r1's set is back, fence generation {gen} by obs-a",
                      lambda: self.answer_is("r1") and lab.fence() == (gen, "obs-a"), 10)
            excused.append((start, time.monotonic(), damage))
            for node in OBSERVERS:
                self.wait(f"{OBSERVERS[node]}: www no longer frozen, generation {gen}",
                          lambda: (lab.service(node) or {}).get("frozen") is False
                          and lab.service(node)["generation"] == gen, 10)
        self.quiet_for(QUIET, approved=lab.approved_updates())
        self.assertEqual(lab.accepted_updates(), 2 + 2, lab.log("named")[-3000:])  # edits too
        self.assertEqual(self.watch.answers()[-1], PUBLISH["r1"])
        self.assert_invariants(excused)

    @world(clock_off={"o3": "+10m"})
    def test_a7_one_observers_clock_ten_minutes_off(self):
        """obs-c's wall clock runs 10 minutes ahead (libfaketime): BIND answers its signed
        queries with BADTIME. It alerts once, shows itself blocked, sends no UPDATE while r1
        fails over; its clock put right while it runs, it resumes within its backoff cap (30 s)
        and reads the live generation, with no restart."""
        lab = self.lab

        def blocked(node):
            return (lab.service(node) or {}).get("blocked")
        self.wait("obs-c blocked: the target refuses it (BADTIME)",
                  lambda: "BADTIME" in (blocked("o3") or ""), 15)
        self.assertEqual(lab.metric("o3", "failoverd_actuator_blocked", service="www"), 1)
        holds = lab.service("o3")["holds"]
        self.assertTrue(any(h["kind"] == "actuator_blocked" for h in holds), holds)
        for node in ("o1", "o2"):
            self.assertIsNone(blocked(node), node)
        lab.region_down("r1")
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 30)
        for node in ("o1", "o2"):
            self.wait(f"{OBSERVERS[node]} reads generation 2",
                      lambda: (lab.service(node) or {}).get("generation") == 2, 10)
        time.sleep(2.0)  # obs-c has wanted the failover too by now
        self.assertEqual(lab.named_log_count('approved', "10.77.10.3#"), 0,
                         "obs-c's UPDATE reached BIND")
        self.assertEqual(lab.named_log_count('approved', "10.77.10.1#"), 1,  # the pattern works
                         lab.log("named")[-3000:])
        self.assertEqual(lab.accepted_updates(), 1, lab.log("named")[-3000:])
        self.assertTrue(blocked("o3"))
        lab.set_clock("o3", "+0")
        fixed = time.monotonic()
        self.wait("obs-c resumes by itself and reads generation 2",
                  lambda: blocked("o3") is None
                  and (lab.service("o3") or {}).get("generation") == 2, 40)
        resumed = time.monotonic() - fixed
        lab.mark(f"obs-c resumed {resumed:.1f}s after its clock was put right")
        self.assertLess(resumed, 30 + 5, "not within the backoff cap")
        self.assertEqual(lab.metric("o3", "failoverd_actuator_blocked", service="www"), 0)
        refusals = [e for e in lab.events("o3", 1000) if e["kind"] == "actuator_refused"]
        self.assertEqual(len(refusals), 1, refusals)  # one alert for one cause, not one per try
        self.assertEqual(self.journaled("o3", "actuator_resumed"), 1)
        self.quiet_for(QUIET, approved=lab.approved_updates())
        self.assertEqual(lab.accepted_updates(), 1)
        self.assert_invariants()

    def test_h1_freeze_on_one_observer_holds_every_observer(self):
        """failoverctl freeze www on obs-a binds obs-b and obs-c too (carried by the peer
        exchange): r1 dies and no observer writes; unfreeze on obs-a: exactly one failover."""
        lab = self.lab
        self.operator("o1", "freeze", "www", "--reason", "lab: change window")

        def holds_freeze(node):
            return self.frozen_by(node, "obs-a", "lab: change window")
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} reports www frozen by lab on obs-a",
                      lambda: holds_freeze(node), 10)
        lab.region_down("r1")
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} confirms r1 down",
                      lambda: self.confirmed(node, "r1") == "down", 15)
        self.quiet_for(15, approved=0)
        for node in OBSERVERS:
            self.assertTrue(holds_freeze(node), (node, lab.service(node)))
        # The tables say it too, on an observer that did not take the action.
        status = lab.ctl_raw("o3", "status").stdout
        self.assertIn("frozen by lab on obs-a since ", status)
        self.assertIn(": lab: change window", status)
        why = lab.ctl_raw("o3", "why", "www").stdout
        self.assertRegex(why, r"hold: freeze by lab on obs-a since \d{4}-\d\d-\d\dT[0-9:]+Z: "
                              r"lab: change window")
        print(status + why, file=sys.stderr)
        for node in ("o2", "o3"):
            adopted = [e for e in lab.events(node, 1000) if e["kind"] == "peer_freeze"]
            self.assertEqual(len(adopted), 1, adopted)
            self.assertIn("freeze adopted from obs-a, by lab: lab: change window",
                          adopted[0]["detail"])
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        self.operator("o1", "unfreeze", "www", "--reason", "lab: window over")
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 30)
        self.wait_all_read(2, "r2", 10)
        self.quiet_for(QUIET, approved=1)
        self.assertEqual(lab.approved_updates(), 1, lab.log("named")[-3000:])
        self.assertEqual(lab.fence()[0], 2)
        for node in OBSERVERS:
            self.assertFalse((lab.service(node) or {}).get("frozen"), node)
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"]])
        self.assert_invariants()

    def test_h6_freeze_while_one_observer_is_partitioned_from_its_peers(self):
        """obs-c cut from obs-a and obs-b (not from BIND or the regions); freeze on obs-a; r1
        dies: obs-c sees it alone and writes nothing; healed, obs-c adopts the freeze with the
        first votes it hears and still writes nothing; unfreeze on obs-a: exactly one failover."""
        lab = self.lab
        lab.cut("o3", ["o1", "o2"], "drop")
        self.operator("o1", "freeze", "www", "--reason", "lab: change window")
        self.wait("obs-b reports www frozen by lab on obs-a",
                  lambda: self.frozen_by("o2", "obs-a", "lab: change window"), 10)
        self.assertFalse(self.frozen_by("o3", "obs-a", "lab: change window"))
        lab.region_down("r1")
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} sees r1 down", lambda: self.local(node, "r1") == "down",
                      15)
        self.quiet_for(QUIET, approved=0)
        lab.heal()
        self.wait("obs-c reports www frozen by lab on obs-a",
                  lambda: self.frozen_by("o3", "obs-a", "lab: change window"), 15)
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} confirms r1 down",
                      lambda: self.confirmed(node, "r1") == "down", 15)
        self.quiet_for(8, approved=0)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        self.operator("o1", "unfreeze", "www", "--reason", "lab: window over")
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 30)
        self.wait_all_read(2, "r2", 10)
        self.settled_after_race(applied=1)
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"]])
        self.assert_invariants()

    def test_h2_pin_on_one_observer_holds_every_observer_across_a_restart(self):
        """failoverctl pin www --to r2 on obs-a: one UPDATE, and every observer holds the pin
        (obs-b also after a restart, from state.json); r2 then dies and nobody moves www;
        unpin on obs-a: exactly one failover, back to r1."""
        lab = self.lab
        self.operator("o1", "pin", "www", "--to", "r2", "--reason", "lab: r1 maintenance")
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 10)

        def holds_pin(node):
            svc = lab.service(node) or {}
            return svc.get("pinned") == "r2" and any(
                h.get("kind") == "pin" and h.get("region") == "r2" and h.get("by") == "lab"
                and h.get("observer") == "obs-a" and h.get("reason") == "lab: r1 maintenance"
                for h in svc.get("holds", []))
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} reports www pinned to r2 by lab on obs-a",
                      lambda: holds_pin(node), 10)
        lab.stop(OBSERVERS["o2"], signal.SIGTERM)
        lab.start_observer("o2")
        lab.mark("obs-b restarted")
        self.wait("obs-b reports the pin again after its restart", lambda: holds_pin("o2"), 20)
        self.wait_all_read(2, "r2", 20)
        lab.region_down("r2")
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} confirms r2 down",
                      lambda: self.confirmed(node, "r2") == "down", 15)
        self.quiet_for(8, approved=1)
        for node in OBSERVERS:
            self.assertTrue(holds_pin(node), (node, lab.service(node)))
        self.operator("o1", "unpin", "www", "--reason", "lab: done")
        # The pin's move was a flip: the automatic failover waits out hold_down (30 s) from it.
        self.wait("the answer is r1's, once hold_down since the pin has passed",
                  lambda: self.answer_is("r1"), 45)
        self.wait_all_read(3, "r1", 10)
        self.quiet_for(QUIET, approved=2)
        # obs-b kept the hold version across its restart: it never adopted the pin a second time.
        self.assertEqual(self.journaled("o2", "peer_pin"), 1)
        self.assertEqual(self.journaled("o2", "peer_unpin"), 1)
        for node in OBSERVERS:
            self.assertIsNone((lab.service(node) or {}).get("pinned"), node)
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"], PUBLISH["r1"]])
        self.assert_invariants(excused=())

    @world(dns_delay=(1.5, 3.0))
    def test_s1_slow_dns_server(self):
        """Every reply of BIND's to the observers comes 1.5-3 s late (delay_relay.py in the dns
        namespace; the target timeout is the default 2 s). r1 dies: exactly one failover,
        within detection + 10 s, never empty. A read is one round trip (its queries pipelined),
        its deadline follows the measured RTT, and a slow answer is no failure to back off
        from."""
        lab = self.lab
        lab.region_down("r1")
        killed = time.monotonic()
        detected = []

        def moved():
            if not detected and any(self.confirmed(n, "r1") == "down" for n in OBSERVERS):
                detected.append(time.monotonic())
            return self.answer_is("r2")
        self.wait("the answer is r2's", moved, DETECTION_BUDGET + 10 + 5)
        took = time.monotonic() - killed
        detection = (detected[0] if detected else time.monotonic()) - killed
        lab.mark(f"r1 confirmed down {detection:.1f}s after it died, the answer moved "
                 f"{took - detection:.1f}s later")
        self.assertLess(detection, DETECTION_BUDGET, "detection slower than its budget")
        self.assertLess(took - detection, 10, "failover slower than detection + 10 s")
        self.wait_all_read(2, "r2", 20)
        self.quiet_for(QUIET, approved=lab.approved_updates())
        lab.mark(f"UPDATEs: {lab.approved_updates()} approved, {lab.accepted_updates()} applied")
        self.assertEqual(lab.accepted_updates(), 1, lab.log("named")[-3000:])
        # The observers after the writer wait two of its round trips and read afresh, so they
        # find its write live (before that wait followed the RTT: 3 approved, 2 losing the CAS,
        # in 3 of 3 runs). One that went first with a plan lacking obs-a's vote may lose one.
        self.assertLessEqual(lab.approved_updates(), 2, lab.log("named")[-3000:])
        self.assertEqual(lab.fence()[0], 2)
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"]])
        self.assertEqual(sum(lab.metric(n, "failoverd_failovers_total") for n in OBSERVERS), 1)
        # The relay was in the path: every observer's reads went through it, late.
        delayed = [float(m) for m in re.findall(r"tcp reply \d+ bytes delayed (\S+)s",
                                                lab.log("relay"))]
        lab.mark(f"{len(delayed)} replies relayed, delays {min(delayed):.2f}-{max(delayed):.2f}s")
        self.assertGreater(len(delayed), 30)
        self.assertGreaterEqual(min(delayed), 1.5)
        self.assert_invariants()

    def frozen_at(self, obs, after):
        """Wall time of an observer's first "frozen" actuator alert after `after`."""
        times = [t for t in self.actuator_log_times(obs, "frozen") if t >= after]
        self.assertTrue(times, f"{obs} logged no freeze after the edit")
        return times[0]


class LabFlapping(LabTest):
    """Automatic failback after 1 s, a 4 s hold-down, at most 2 automatic flips a minute."""
    service = {"failback": "auto", "failback_delay": "1s", "hold_down": "4s", "flip_budget": 2,
               "flip_window": "1m"}

    def test_f4_primary_flaps(self):
        lab = self.lab
        seen = self.last_event_ids()

        def frozen():
            return any((lab.service(n) or {}).get("frozen") for n in OBSERVERS)
        # r1 down 1.5 s, up 4.5 s, for at most four cycles or until automation freezes. The
        # failback is wanted ~1 s after r1 is back, before the hold-down of the first flip ends.
        for cycle in range(4):
            lab.region_down("r1")
            if wait_until(frozen, 1.5, 0.1):
                break
            lab.region_up("r1")
            if wait_until(frozen, 4.5, 0.1):
                break
        self.wait("automation of www frozen", frozen, 10)
        budget = [(n, k) for n in OBSERVERS for k, r in self.alerts(n, seen)
                  if r == "flip_budget_exhausted"]
        self.assertTrue(any(k == "alert" for _, k in budget), budget)
        lab.mark("alerts flip_budget_exhausted from " + ",".join(sorted({n for n, _ in budget})))
        self.quiet_for(QUIET, approved=lab.approved_updates())
        # Two automatic flips (out to r2, back to r1), one write each, then nothing.
        self.assertEqual(lab.approved_updates(), 2, lab.log("named")[-3000:])
        self.assertEqual(lab.fence()[0], 3)
        changes = []
        for s in self.watch.samples():
            if s["gen"] is not None and (not changes or changes[-1][1] != s["gen"]):
                changes.append((s["t"], s["gen"]))
        gaps = [b[0] - a[0] for a, b in zip(changes[1:], changes[2:])]
        lab.mark("seconds between flips: " + ", ".join(f"{g:.2f}" for g in gaps))
        for gap in gaps:
            self.assertGreaterEqual(gap, 4.0 - 0.1, "two flips within one hold-down")
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"], PUBLISH["r1"]])
        self.assert_invariants()


class LabWriteBudget(LabTest):
    """At most 3 automated writes per observer in 10 minutes (write_budget)."""
    service = {"write_budget": 3, "write_budget_window": "10m"}

    def observer_updates(self):
        """UPDATEs BIND approved from the observers' addresses (hand edits come from dns)."""
        return self.lab.named_log_count('signer "lab-key" approved', "10.77.10.")

    def test_a6_another_automation_fights_the_record(self):
        """Another writer keeps putting r2's set under the fence (a hand edit every 0.5 s, as
        a second automation would): each observer repairs the drift at most write_budget times,
        then freezes www with an alert and only reports; the fight goes on without them."""
        lab = self.lab
        budget = 3
        edit = ("update delete www.lab.test. A",
                *(f"update add www.lab.test. 5 A {a}" for a in PUBLISH["r2"]))
        edits = 0
        last_change, last_count = time.monotonic(), self.observer_updates()
        deadline = time.monotonic() + 40
        # Fight until no observer has written for 6 s (every reconcile_interval of 1 s found
        # the drift meanwhile), at most 40 s.
        while time.monotonic() < deadline and time.monotonic() - last_change < 6:
            self.assertEqual(lab.nsupdate(*edit), 0)
            edits += 1
            time.sleep(0.5)
            count = self.observer_updates()
            if count != last_count:
                last_change, last_count = time.monotonic(), count
        lab.mark(f"{edits} hand edits; the observers sent {last_count} UPDATEs")
        self.assertLess(time.monotonic() - last_change, 40, "the observers never stopped")
        self.assertGreaterEqual(time.monotonic() - last_change, 6, "the observers kept writing")
        self.assertGreater(last_count, 0, "no observer repaired the drift at all")
        self.assertLessEqual(last_count, budget * len(OBSERVERS), lab.log("named")[-3000:])
        exhausted = [n for n in OBSERVERS if self.journaled(n, "actuator_budget_exhausted")]
        self.assertTrue(exhausted, "no observer spent its write budget")
        for node in exhausted:
            svc = lab.service(node)
            self.assertTrue(svc["frozen"], (node, svc))
            holds = svc.get("holds", [])
            self.assertTrue(any("write budget" in (h.get("reason") or "") for h in holds),
                            (node, holds))
        lab.mark("write budget spent and www frozen on " +
                 ",".join(OBSERVERS[n] for n in exhausted))
        self.assertEqual(self.watch.answers()[-1], PUBLISH["r2"])  # the other writer's set
        self.assert_invariants()


class LabRestartKeepsHistory(LabTest):
    """flip_budget 1 per 12 s: one failover spends it for 12 s. Each observer keeps the
    generation it read and the flips it counted in its state file, so a restart after the
    window is not a flip: the next failover is allowed (before, the first read after a restart
    counted one flip and froze www on every observer)."""
    service = {"flip_budget": 1, "flip_window": "12s", "hold_down": "2s"}

    def test_k3_restart_after_a_failover_is_not_a_flip(self):
        lab = self.lab
        lab.region_down("r1")
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 30)
        flipped = time.monotonic()
        self.wait_all_read(2, "r2", 10)
        time.sleep(max(0.0, flipped + 13 - time.monotonic()))
        lab.mark("the failover's flip is out of flip_window")
        for node, obs in OBSERVERS.items():
            lab.stop(obs, signal.SIGKILL)
        lab.mark("kill -9 every observer")
        for node in OBSERVERS:
            lab.start_observer(node)
        lab.mark("every observer restarted")
        self.wait_all_read(2, "r2", 20)
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} confirms r2 up",
                      lambda: self.confirmed(node, "r2") == "up", 20)
        seen = self.last_event_ids()
        lab.region_down("r2")
        killed = time.monotonic()
        self.wait("the answer is r3's", lambda: self.answer_is("r3"), 30)
        self.assertLess(time.monotonic() - killed, DETECTION_BUDGET,
                        "failover after the restart slower than the budget")
        for node in OBSERVERS:
            self.assertNotIn(("alert", "flip_budget_exhausted"), self.alerts(node, seen), node)
        self.quiet_for(QUIET, approved=2)
        self.assertEqual(lab.fence()[0], 3)
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"], PUBLISH["r3"]])
        self.assert_invariants()


class LabPinAutoFailback(LabTest):
    """failback = "auto" after 3 s: without a hold, www goes back to r1 as soon as r1 has been
    up for failback_delay (and hold_down since the last flip has passed)."""
    service = {"failback": "auto", "failback_delay": "3s", "hold_down": "2s"}

    def test_h4_pin_holds_against_automatic_failback(self):
        """pin www --to r2 on obs-a with r1 healthy: one UPDATE; for failback_delay + 10 s no
        observer fails back to r1; unpin on obs-a: exactly one failback to r1."""
        lab = self.lab
        self.operator("o1", "pin", "www", "--to", "r2", "--reason", "lab: drain r1")
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 10)
        self.wait_all_read(2, "r2", 10)
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} reports www pinned to r2",
                      lambda: (lab.service(node) or {}).get("pinned") == "r2", 10)
            self.assertEqual(self.confirmed(node, "r1"), "up", node)
        self.quiet_for(3 + 10, approved=1)
        self.assertTrue(self.answer_is("r2"))
        self.operator("o1", "unpin", "www", "--reason", "lab: drained")
        self.wait("the answer is r1's again (automatic failback)", lambda: self.answer_is("r1"), 20)
        self.wait_all_read(3, "r1", 10)
        self.quiet_for(QUIET, approved=2)
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"], PUBLISH["r1"]])
        self.assert_invariants(excused=())

    def test_h5_manual_failover_holds_on_every_observer(self):
        """failover www --to r2 on obs-a with r1 healthy: one UPDATE, its fence saying an operator
        made it; for failback_delay + 10 s neither obs-b nor obs-c fails back (each reads the
        trigger from the fence); failback on obs-b: exactly one UPDATE back to r1."""
        lab = self.lab
        self.operator("o1", "failover", "www", "--to", "r2", "--reason", "lab: drain r1")
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 10)
        self.wait_all_read(2, "r2", 10)
        self.assertIn('"gen=2 writer=obs-a trigger=manual"', lab.dig(labmod.FENCE, "TXT"))
        for node in OBSERVERS:
            self.assertEqual(self.confirmed(node, "r1"), "up", node)
        self.quiet_for(3 + 10, approved=1)
        self.operator("o2", "failback", "www", "--reason", "lab: drained")
        self.wait("the answer is r1's again", lambda: self.answer_is("r1"), 10)
        self.wait_all_read(3, "r1", 10)
        self.quiet_for(QUIET, approved=2)
        self.assertEqual(lab.fence(), (3, "obs-b"))
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"], PUBLISH["r1"]])
        self.assert_invariants(excused=())


class LabPropose(LabTest):
    """mode = "propose": every observer that confirms a failover proposes it and waits; an
    operator approves on any one of them."""
    service = {"mode": "propose"}

    def test_h3_propose_then_approve_on_another_observer(self):
        """r1 dies: each observer proposes the failover to r2 and nothing is written; approve on
        obs-b: exactly one failover (one UPDATE, generation 2), none before, none after."""
        lab = self.lab
        lab.region_down("r1")

        def proposes_r2(node):
            holds = (lab.service(node) or {}).get("holds", [])
            return any(h.get("kind") == "proposal" and h.get("active") == ["r2"] for h in holds)
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} proposes the failover to r2",
                      lambda: proposes_r2(node), 20)
        self.quiet_for(8, approved=0)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        self.assertEqual(lab.approved_updates(), 0)
        # The proposal is renewed every max_decision_age: approve one that is current.
        self.wait("obs-b has a current proposal", lambda: proposes_r2("o2"), 15)
        self.operator("o2", "approve", "www")
        self.wait("the answer is r2's", lambda: self.answer_is("r2"), 15)
        self.wait_all_read(2, "r2", 10)
        self.quiet_for(QUIET, approved=1)
        self.assertEqual(lab.approved_updates(), 1, lab.log("named")[-3000:])
        self.assertEqual(lab.fence(), (2, "obs-b"))
        approved = [e for e in lab.events("o2", 1000) if e["kind"] == "admin_approve"]
        self.assertEqual(len(approved), 1, approved)
        for node in OBSERVERS:
            self.assertFalse(proposes_r2(node), (node, lab.service(node)))
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"], PUBLISH["r2"]])
        self.assert_invariants()


class LabTwoRegionService(LabTest):
    """www served from r1 then r2 only; r3 exists (and stays up) but is not in the service."""
    service = {"regions": ["r1", "r2"]}

    def test_f3_primary_down_and_standby_unhealthy(self):
        lab = self.lab
        seen = self.last_event_ids()
        lab.region_down("r2")
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} confirms r2 down",
                      lambda: self.confirmed(node, "r2") == "down", 15)
        lab.region_down("r1")
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} confirms r1 down",
                      lambda: self.confirmed(node, "r1") == "down", 15)

        # No region of the service is left (r3 is up, so no observer abstains): fail static.
        def alerted(node):
            return any(k == "alert" and r in ("target_not_confirmed_up", "all_regions_down")
                       for k, r in self.alerts(node, seen))
        for node in OBSERVERS:
            self.wait(f"{OBSERVERS[node]} alerts: no standby confirmed up", lambda: alerted(node),
                      10)
        self.quiet_for(QUIET, approved=0)
        self.assertEqual(lab.fence(), (1, "bootstrap"))
        self.assertEqual(self.watch.answers(), [PUBLISH["r1"]])
        self.assert_invariants()


def main():
    global FAILOVERD, FAILOVERCTL
    args = sys.argv[1:]
    FAILOVERD, FAILOVERCTL = args[0], args[1]
    rest, only, skip = [], None, set()
    it = iter(args[2:])
    for a in it:
        if a == "--only":
            only = set(next(it).upper().split(","))
        elif a == "--skip":
            skip = set(next(it).upper().split(","))
        else:
            rest.append(a)
    if os.geteuid() != 0:
        print("lab_test.py: needs root (network namespaces, nftables): skipped", file=sys.stderr)
        sys.exit(77)
    # SIGTERM (an impatient runner) ends like Ctrl-C: at exit each Lab removes its world.
    def interrupted(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for case in (LabTest, *LabTest.__subclasses__()):  # every scenario class in this file
        for name in loader.getTestCaseNames(case):
            if case is not LabTest and hasattr(LabTest, name):
                continue  # inherited: runs once, in LabTest
            sid = name.split("_")[1].upper()
            if only is None and sid in KNOWN_ISSUES:
                continue
            if (only is None or sid in only) and sid not in skip:
                suite.addTest(case(name))
    if only:
        found = {t.id().rsplit(".", 1)[-1].split("_")[1].upper() for t in suite}
        if only - found:
            print("lab_test.py: no scenario " + ",".join(sorted(only - found)), file=sys.stderr)
            sys.exit(2)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)


if __name__ == "__main__":
    main()
