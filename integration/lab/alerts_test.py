#!/usr/bin/env python3
"""The shipped alert rules fire for real: in the namespace lab (lab.py), Prometheus scrapes the
three observers with config/alerts.yml and Alertmanager routes to a webhook receiver
(monitoring.py). One world, three faults in turn, each checked at the receiver:

  P1  obs-c cut off from r1: FailoverdObserverDisagrees for obs-c and r1 is delivered (and
      resolved after the cut heals); no FailoverdFailoverHappened, not even pending;
  F1  r1 dies: FailoverdFailoverHappened (www, automatic) and FailoverdRegionConfirmedDown (r1);
  F2  then r3 and r2 die: every region is down. Each observer abstains (every region looks down
      from it: its own network is the likelier fault), so no quorum confirms anything:
      FailoverdObserverImpaired for each observer and FailoverdNoQuorum (www) are delivered and
      no UPDATE is sent.

The rules' `for:` durations are cut to a few seconds in a copy (monitoring.test_rules); the
expressions, labels and annotations are the shipped ones.

usage: alerts_test.py FAILOVERD FAILOVERCTL SOURCE_DIR        (root; exit 77 when not root)"""
import os
import signal
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab as labmod  # noqa: E402
import monitoring  # noqa: E402
from lab import Lab, OBSERVERS, region_addrs, wait_until  # noqa: E402

FAILOVERD = FAILOVERCTL = SOURCE = None
FOR_SECONDS = 3
DELIVERY = 30  # seconds from a fault to its alert at the receiver: detection + for + routing


class Alerts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        keep = os.environ.get("FAILOVERD_LAB_KEEP")
        cls.lab = Lab(FAILOVERD, FAILOVERCTL, quiet=True,
                      keep_dir=os.path.join(keep, "alerts") if keep else None,
                      **monitoring.LAB_OPTIONS)
        cls.lab.up()
        cls.mon = monitoring.Monitoring(cls.lab, os.path.join(SOURCE, "config", "alerts.yml"),
                                        FOR_SECONDS).start()

    @classmethod
    def tearDownClass(cls):
        cls.lab.print_timeline("alerts")
        cls.lab.down()
        left = labmod.lab_namespaces(cls.lab.prefix)
        if left:
            raise AssertionError(f"namespaces left behind: {left}")

    def names(self, status="firing"):
        return sorted({ls["alertname"] for st, ls, _ in self.mon.deliveries() if st == status})

    def test_1_p1_observer_disagrees_and_no_failover_alert(self):
        lab, mon = self.lab, self.mon
        lab.cut("o3", "r1", "drop")
        found = mon.wait_delivered("FailoverdObserverDisagrees", DELIVERY, instance="obs-c",
                                   region="r1")
        labels, annotations = found[0]
        self.assertEqual(labels["severity"], "warning")
        self.assertEqual(annotations["summary"],
                         "observer obs-c sees r1 down but the quorum does not")
        # No observer sees it, so no other observer's series can fire it.
        self.assertEqual(mon.delivered("FailoverdObserverDisagrees", instance="obs-a"), [])
        self.assertEqual(mon.delivered("FailoverdObserverDisagrees", instance="obs-b"), [])
        # Nothing moved: no failover alert delivered, none pending in Prometheus either.
        self.assertNotIn("FailoverdFailoverHappened", self.names())
        self.assertEqual([a for a in mon.prometheus_alerts()
                          if a[0] == "FailoverdFailoverHappened"], [])
        self.assertEqual(mon.query("sum(failoverd_failovers_total)")[0][1], 0)
        self.assertEqual(lab.answer(), region_addrs("r1"))
        lab.heal()
        wait_until(lambda: mon.delivered("FailoverdObserverDisagrees", status="resolved",
                                         instance="obs-c"), DELIVERY, 0.2)
        self.assertTrue(mon.delivered("FailoverdObserverDisagrees", status="resolved",
                                      instance="obs-c"), "the disagreement was never resolved")
        lab.mark("FailoverdObserverDisagrees resolved after the cut healed")
        self.assertNotIn("FailoverdFailoverHappened", self.names())

    def test_2_f1_failover_alert(self):
        lab, mon = self.lab, self.mon
        lab.region_down("r1")
        self.assertTrue(wait_until(lambda: lab.answer() == region_addrs("r2"), DELIVERY, 0.1),
                        "no failover to r2")
        lab.mark("the answer is r2's")
        found = mon.wait_delivered("FailoverdFailoverHappened", DELIVERY, service="www",
                                   trigger="automatic")
        labels, annotations = found[0]
        self.assertEqual(labels["severity"], "warning")
        self.assertEqual(annotations["summary"],
                         "www was moved (automatic) in the last 10 minutes")
        # One observer wrote the failover: its series alone increased.
        writers = {ls["instance"] for ls, _ in mon.delivered("FailoverdFailoverHappened")}
        self.assertEqual(len(writers), 1, writers)
        mon.wait_delivered("FailoverdRegionConfirmedDown", DELIVERY, region="r1")
        self.assertEqual(mon.delivered("FailoverdRegionConfirmedDown", region="r2"), [])

    def test_3_f2_every_region_down_no_quorum(self):
        lab, mon = self.lab, self.mon
        generation = lab.fence()[0]
        updates = lab.approved_updates()
        lab.region_down("r3")
        time.sleep(1.0)
        lab.region_down("r2")
        mon.wait_delivered("FailoverdNoQuorum", DELIVERY, service="www", rule="no_quorum")
        for obs in OBSERVERS.values():
            mon.wait_delivered("FailoverdObserverImpaired", DELIVERY, instance=obs)
        # The rule that fires is no_quorum, not all_regions_down: no quorum confirms anything.
        self.assertEqual(mon.delivered("FailoverdAllRegionsDown"), [])
        # Fail static: nothing was written, the answer stays r2's.
        self.assertEqual(lab.approved_updates(), updates)
        self.assertEqual(lab.fence()[0], generation)
        self.assertEqual(lab.answer(), region_addrs("r2"))
        lab.mark("delivered in all: " + " ".join(self.names()))


def main():
    global FAILOVERD, FAILOVERCTL, SOURCE
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    FAILOVERD, FAILOVERCTL, SOURCE = sys.argv[1], sys.argv[2], sys.argv[3]
    if os.geteuid() != 0:
        print("alerts_test.py: needs root (network namespaces, nftables): skipped",
              file=sys.stderr)
        sys.exit(77)

    def interrupted(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupted)
    suite = unittest.TestLoader().loadTestsFromTestCase(Alerts)
    result = unittest.TextTestRunner(verbosity=2, failfast=True).run(suite)
    sys.exit(0 if result.wasSuccessful() and result.testsRun == 3 else 1)


if __name__ == "__main__":
    main()
