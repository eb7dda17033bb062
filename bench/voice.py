"""Voice quality under packet loss: Secret-Call's call against plain WebRTC, wideband PESQ.

The talker's microphone is Chromium's fake capture device playing real recorded speech in a loop
(`--use-file-for-fake-audio-capture`): the eight spoken channel names that Debian's alsa-utils ships
in /usr/share/sounds/alsa/ (GPL-2; "Front Left", "Front Center", …, without Noise.wav), 11.4 s at
48 kHz. Both pages of a call run in one Chromium inside a private network namespace
(bench/voice_netns.py; addresses from 198.18.0.0/15, made and removed by the benchmark), where the
namespace's iptables INPUT chain drops UDP: `-m statistic --mode random` for random loss, and for
bursty loss a two-state (Gilbert) chain whose state is a bit of each flow direction's conntrack
mark (CONNMARK), so that bursts last {burst:g} packets on average. The loss hits every UDP packet of
the call, both ways: RTP, RTCP, STUN and DTLS; the signaling (TCP) is spared.

Side by side, in the same run and under the same loss, taking turns: **Secret-Call** (its page from
its own server, two participants who join as people do) and **plain WebRTC** (the benchmark's own
two-page call, bench/voice_www/call.html: browser defaults, `getUserMedia({{audio: true}})`, no SDP
changes). In each call the listener mutes itself, so only the talker's voice is on the line. After a
{warmup:g} s warm-up the talker's page records what its microphone gives and the listener's page what it
plays, both as raw PCM at 16 kHz through an AudioWorklet (js/pcm-capture-worklet.js, served under
Secret-Call's own allow-list and CSP), for {seconds:g} s; each page maps its samples to the browser's
one high-resolution clock (AudioContext.getOutputTimestamp).

Quality: each {window:g} s window of what the listener played is matched (cross-correlation) to the
stretch of the looped speech it came from and scored with ITU-T P.862.2 wideband PESQ (the `pesq`
package, 16 kHz) against it; a run's MOS is the mean of its windows. Mouth-to-ear delay: each 4 s
window of what was played is found (cross-correlation) in what the talker's microphone gave up to
1.5 s earlier, and the two clock stamps are subtracted. The stats are the talker's outbound-rtp and
the listener's inbound-rtp over the recorded stretch: the loss the listener saw (packetsLost), the
share of concealed samples, the mean jitter-buffer delay and the talker's RTP payload bitrate; the
upload adds RTP headers, the SRTP tag and UDP/IPv4 headers per packet. The codec is read from the
description the talker applied (Chromium's codec stats show opus even inside RED).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import statistics
from dataclasses import dataclass, field
from typing import Any, Sequence

from bench.common import Conditions, Options, median
from bench.report import Section, Table, Target, fmt
from bench.voice_audio import RATE, WINDOW_S, Score, SpeechMissing, mouth_to_ear_ms, pesq_score, speech, spread, to_16k
from bench.voice_lab import FIREFOX, CallFigures, Capture, Lab, Variant, call_figures, firefox_audio_codecs
from bench.voice_netns import Loss, NetnsError

logger = logging.getLogger(__name__)

TITLE = "6. Voice under packet loss"
CHROMIUM = "/usr/bin/chromium"
BURST = 3.0
PLAIN = Variant("plain", "plain WebRTC")
PROJECT = Variant("project", "Secret-Call", project=True)
# Each tuning choice alone, in the benchmark's page (js/voice-tuning.js with everything else off).
OFF: dict[str, Any] = {"red": False, "redundancy": 1, "opus": {}, "ptime": 0, "priority": "", "jitterBufferTarget": 0}
CHOICES = (
    Variant("no-fec", "Opus without in-band FEC (useinbandfec=0)", tuning={**OFF, "opus": {"useinbandfec": 0}}),
    Variant("red", "RED only", tuning={**OFF, "red": True}),
    Variant("red2", "RED, fmtp asking for 2 redundant frames", tuning={**OFF, "red": True, "redundancy": 2}),
    Variant("fmtp", "Opus fmtp only (useinbandfec=1;stereo=0;usedtx=0)",
            tuning={**OFF, "opus": {"useinbandfec": 1, "stereo": 0, "usedtx": 0}}),
    Variant("red-dtx", "RED + DTX (usedtx=1)", tuning={**OFF, "red": True, "opus": {"usedtx": 1}}),
    Variant("red-ptime40", "RED + ptime 40", tuning={**OFF, "red": True, "ptime": 40}),
    Variant("red-24k", "RED + maxaveragebitrate 24000", tuning={**OFF, "red": True,
                                                                "opus": {"maxaveragebitrate": 24000}}),
    Variant("red-jb60", "RED + jitterBufferTarget 60 ms", tuning={**OFF, "red": True, "jitterBufferTarget": 60}),
    Variant("priority", "priority/networkPriority high only", tuning={**OFF, "priority": "high"}),
)


@dataclass
class Run:
    """One measured call, analysed."""

    variant: str
    loss: Loss
    score: Score
    delays: list[float]
    figures: CallFigures
    drift_ms: float
    realtime: float

    @property
    def mos(self) -> float:
        return self.score.mos


@dataclass
class Plan:
    conditions: list[Loss]
    runs: int
    seconds: float
    warmup: float
    choices: Sequence[Variant]
    choice_conditions: list[Loss]
    choice_runs: int


def plan(options: Options) -> Plan:
    if options.quick:
        return Plan([Loss("none"), Loss("random", 0.20)], 1, 9.0, 2.0, (), [], 0)
    return Plan([Loss("none"), Loss("random", 0.05), Loss("random", 0.10), Loss("random", 0.20),
                 Loss("bursty", 0.10, BURST)], 3, 24.0, 3.0, CHOICES, [Loss("none"), Loss("random", 0.20)], 2)


def analyse(variant: Variant, loss: Loss, capture: Capture, reference: Any) -> Run:
    score = pesq_score(reference, capture.heard.samples)
    delays = mouth_to_ear_ms(capture.sent, capture.heard)
    drift = max(capture.sent.clock_drift_ms(), capture.heard.clock_drift_ms())
    return Run(variant.key, loss, score, delays, call_figures(capture), drift, capture.realtime)


async def measure(lab: Lab, variant: Variant, loss: Loss, the_plan: Plan, reference: Any) -> Run:
    capture = await lab.measure(variant, loss, the_plan.seconds, the_plan.warmup)
    run = analyse(variant, loss, capture, reference)
    logger.info("%s, %s: MOS %.2f %s, delay %s ms, %s, load %.1f", variant.label, loss.label, run.mos,
                [round(w, 2) for w in run.score.windows], fmt(median(run.delays), 0), run.figures.codec,
                os.getloadavg()[0])
    print(f"   {loss.label:>28} {variant.label:<44} MOS {fmt(run.mos, 2):>5}  delay {fmt(median(run.delays), 0):>5} ms",
          flush=True)
    return run


@dataclass
class Results:
    runs: list[Run] = field(default_factory=list)
    firefox: tuple[str, list[str]] | None = None
    chromium: str = ""

    def of(self, variant: str, loss: Loss) -> list[Run]:
        return [run for run in self.runs if run.variant == variant and run.loss == loss]


async def collect(the_plan: Plan, options: Options) -> Results:
    reference = to_16k(speech())
    results = Results()
    lab = Lab(options.cpus)
    async with lab.running():
        results.chromium = lab.chromium_version
        for loss in the_plan.conditions:
            for _ in range(the_plan.runs):
                for variant in (PLAIN, PROJECT):  # taking turns spreads other work on the machine over both
                    results.runs.append(await measure(lab, variant, loss, the_plan, reference))
        for loss in the_plan.choice_conditions:
            for _ in range(the_plan.choice_runs):
                for variant in the_plan.choices:
                    results.runs.append(await measure(lab, variant, loss, the_plan, reference))
    if shutil.which(FIREFOX):
        try:
            results.firefox = await firefox_audio_codecs()
        except Exception as error:  # a note, not a figure: never fail the benchmark on it
            logger.warning("could not ask Firefox for its codecs: %s", error)
    return results


def _mos(runs: list[Run]) -> float:
    values = [run.mos for run in runs if not math.isnan(run.mos)]
    return statistics.fmean(values) if values else float("nan")


def _range(runs: list[Run]) -> str:
    low, high = spread([run.mos for run in runs])
    return f"{fmt(low, 2)}–{fmt(high, 2)}"


def _delay(runs: list[Run]) -> float:
    return median([delay for run in runs for delay in run.delays])


def _figure(runs: list[Run], name: str) -> float:
    return median([getattr(run.figures, name) for run in runs if not math.isnan(getattr(run.figures, name))])


def _codec(runs: list[Run]) -> str:
    lines = sorted({run.figures.codec for run in runs})
    return " / ".join(f"`{line}`" for line in lines) or "n/a"


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"


def tables(results: Results, the_plan: Plan) -> list[tuple[str, Table]]:
    quality = Table(["loss", "runs (windows)", "Secret-Call MOS", "range", "plain WebRTC MOS", "range",
                     "difference", "Secret-Call mouth-to-ear ms", "plain mouth-to-ear ms"])
    stats = Table(["loss", "call", "codec sent (talker's applied description)", "RED", "loss seen",
                   "concealed", "jitter buffer ms", "RTP payload kbit/s", "upload kbit/s"])
    for loss in the_plan.conditions:
        ours, plain = results.of(PROJECT.key, loss), results.of(PLAIN.key, loss)
        windows = sum(len(run.score.windows) for run in ours + plain)
        quality.add(loss.label, f"{len(ours)} + {len(plain)} ({windows})", fmt(_mos(ours), 2), _range(ours),
                    fmt(_mos(plain), 2), _range(plain), f"{_mos(ours) - _mos(plain):+.2f}",
                    fmt(_delay(ours), 0), fmt(_delay(plain), 0))
        for variant, runs in ((PROJECT, ours), (PLAIN, plain)):
            stats.add(loss.label, variant.label, _codec(runs), "on" if any(r.figures.red for r in runs) else "off",
                      _pct(_figure(runs, "loss_seen")), _pct(_figure(runs, "concealed")),
                      fmt(_figure(runs, "jitter_buffer_ms"), 0), fmt(_figure(runs, "payload_kbps"), 1),
                      fmt(_figure(runs, "wire_kbps"), 1))
    out = [("Quality and delay: mean MOS-LQO (P.862.2) over runs, range of the runs' MOS, median delay", quality),
           ("What getStats says (medians over runs)", stats)]
    if the_plan.choices:
        choices = Table(["choice (benchmark's page)", *[f"MOS at {loss.label}" for loss in the_plan.choice_conditions],
                         "mouth-to-ear ms at 0 %", "upload kbit/s", "codec sent"])
        baseline = Loss("none")
        for variant in (PLAIN, *the_plan.choices):
            by_loss = {loss: results.of(variant.key, loss) for loss in the_plan.choice_conditions}
            choices.add(variant.label, *[fmt(_mos(by_loss[loss]), 2) for loss in the_plan.choice_conditions],
                        fmt(_delay(by_loss.get(baseline, [])), 0),
                        fmt(_figure(by_loss.get(baseline, []), "wire_kbps"), 1), _codec(by_loss.get(baseline, [])))
        out.append((f"Each choice alone, {the_plan.choice_runs} run(s) per cell (plain WebRTC from the table above)",
                    choices))
    return out


def targets(results: Results, contended: bool) -> list[Target]:
    def pair(loss: Loss, pick: Any) -> tuple[float, float]:
        return pick(results.of(PROJECT.key, loss)), pick(results.of(PLAIN.key, loss))

    found: list[Target] = []
    zero = Loss("none")
    ours, plain = pair(zero, _mos)
    if not math.isnan(ours + plain):
        found.append(Target("MOS at 0 % loss vs plain WebRTC", f"{ours:.2f} vs {plain:.2f} ({ours / plain:.2f}×)",
                            "≥ 0.95×", ours >= 0.95 * plain, contended))
    for rate, margin in ((0.10, 0.3), (0.20, 0.4)):
        ours, plain = pair(Loss("random", rate), _mos)
        if not math.isnan(ours + plain):
            found.append(Target(f"MOS at {rate:.0%} random loss vs plain WebRTC",
                                f"{ours:.2f} vs {plain:.2f} ({ours - plain:+.2f})", f"≥ plain + {margin}",
                                ours >= plain + margin, contended))
    ours, plain = pair(zero, _delay)
    if not math.isnan(ours + plain):
        found.append(Target("mouth-to-ear delay at 0 % loss vs plain WebRTC", f"{ours:.0f} vs {plain:.0f} ms",
                            "≤ 1.1×", ours <= 1.1 * plain, contended))
    ours, plain = pair(zero, lambda runs: _figure(runs, "wire_kbps"))
    if not math.isnan(ours + plain):
        found.append(Target("upload per stream vs plain WebRTC", f"{ours:.1f} vs {plain:.1f} kbit/s "
                            f"({ours / plain:.2f}×)", "≤ 2×", ours <= 2 * plain, False))
    return found


def notes(results: Results, the_plan: Plan, before: Conditions) -> list[str]:
    out = []
    off = [run for run in results.runs if abs(run.realtime - 1) > 0.1]
    if off:
        out.append(f"In {len(off)} of {len(results.runs)} runs the talker's audio did not keep real time (recorded "
                   f"{min(r.realtime for r in off):.2f}–{max(r.realtime for r in off):.2f} s of microphone audio per "
                   "second): other work starved Chromium's audio threads, which then catch up in bursts; those runs' "
                   "MOS, delays and packet rates say more about the machine than about the call.")
    drift = max((run.drift_ms for run in results.runs), default=0.0)
    if drift > 20:
        out.append(f"An AudioContext's clock strayed up to {drift:.0f} ms from the shared clock during a recording "
                   "(audio rendering fell behind while other work held the CPUs): delays from such runs are rough.")
    if results.firefox:
        version, codecs = results.firefox
        red = any(codec.lower() == "audio/red" for codec in codecs)
        out.append(f"Firefox {version} can receive {', '.join(codecs)}: "
                   + ("it offers RED too." if red else "no audio/red, so a call with Firefox carries tuned Opus "
                      "(its fmtp applied at both ends, mono instead of the stereo Firefox asks for) without "
                      "redundancy; tests/test_browser_voice.py checks that it negotiates and carries audio."))
    if results.chromium:
        out.append(f"Browser: Chromium {results.chromium}, headless, both pages in one browser (separate contexts).")
    return out


def _contended(before: Conditions, after: Conditions) -> bool:
    cpus = os.cpu_count() or 1

    def busy(conditions: Conditions) -> bool:
        pressure = conditions.pressure.rstrip(" %")
        try:
            return conditions.load[0] > cpus or float(pressure) > 20
        except ValueError:
            return conditions.load[0] > cpus

    return busy(before) or busy(after)


async def run(options: Options) -> Section:
    the_plan = plan(options)
    method = __doc__.split("\n", 1)[1].format(burst=BURST, warmup=the_plan.warmup, seconds=the_plan.seconds,
                                              window=WINDOW_S).strip()
    method += (f"\n\nPer condition {the_plan.runs} run(s) of each call, taking turns; each choice of the tuning "
               f"is also measured alone in the benchmark's page ({the_plan.choice_runs} run(s) at "
               f"{', '.join(loss.label for loss in the_plan.choice_conditions) or 'no condition'}). "
               "Chromium and the server are not pinned. The targets are issue #15's.")
    section = Section("voice", TITLE, method, quick=options.quick)
    if not shutil.which(CHROMIUM):
        section.notes.append(f"Not run: {CHROMIUM} is missing (Debian: apt-get install chromium).")
        return section.finish()
    try:
        results = await collect(the_plan, options)
    except (SpeechMissing, NetnsError) as error:
        section.notes.append(f"Not run: {error}.")
        return section.finish()
    except Exception as error:  # say what broke instead of failing the other benchmarks' report
        logger.exception("the voice benchmark failed")
        section.notes.append(f"Not run to the end: {type(error).__name__}: {str(error).splitlines()[0][:300]}")
        return section.finish()
    section.tables.extend(tables(results, the_plan))
    section.finish()
    contended = _contended(section.before, section.after or section.before)
    section.targets.extend(targets(results, contended))
    section.notes.extend(notes(results, the_plan, section.before))
    if contended:
        section.notes.append("The machine was busy (load average above the number of CPUs, or CPU pressure above "
                             "20 %): audio rendering and the jitter buffers suffer from that, so these figures are "
                             "rougher and the delays longer than on a quiet machine.")
    return section
