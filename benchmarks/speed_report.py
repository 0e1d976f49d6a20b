"""Speed benchmark, part 5: the goals (met / missed) and the markdown section of the docs.

:func:`goals` judges the figures against the targets below; :func:`markdown` writes the
section that ``speed.py --docs`` puts between its markers (tables by :mod:`docs_tables`).
"""

from __future__ import annotations

from docs_tables import fmt, md_table, pct

GOAL_INFER, GOAL_TRAIN = 0.60, 0.50
GOAL_SECONDS, GOAL_RSS_MB = 60.0, 2000.0
"""End-to-end goals: seconds, and peak RSS in MB (2 GB = 2,000 MB = 1,907 MiB)."""


def goals(results: dict) -> list[dict]:
    """The goals, each with its figure and met / missed (n/a where not measured here)."""
    device = results["machine"]["device"]
    on_cpu = device == "cpu"
    wellnet = next((m for m in results.get("models", []) if m["model"] == "wellnet"), None)
    out = []
    ceilings = results.get("ceilings", {}).get("gflops", {})
    for kind, goal in (("infer", GOAL_INFER), ("train", GOAL_TRAIN)):
        label = (f"wellnet {'inference' if kind == 'infer' else 'training'} >= {goal:.0%} of the matmul ceiling "
                 "of its precision (CPU; judged on the fastest setting)")
        fastest, best = _fastest_and_best(wellnet, kind)
        if fastest is None:
            why = (wellnet or {}).get(kind, {}).get("error", "not measured")
            out.append({"goal": label, "figure": why, "status": "n/a"})
            continue
        setting, row = fastest
        figure = (f"{row['fraction_of_ceiling']:.1%}: {setting}, {row['gflops']:.1f} of "
                  f"{fmt(ceilings.get(row['ceiling']))} GFLOP/s ({row['ceiling']})")
        if best[0] != setting:
            figure += f"; highest fraction {best[1]['fraction_of_ceiling']:.1%} ({best[0]})"
        value = row["fraction_of_ceiling"]
        status = ("met" if value >= goal else "missed") if on_cpu else f"n/a (measured on {device})"
        out.append({"goal": label, "figure": figure, "status": status, "value": value, "setting": setting})
    e2e = results.get("end_to_end", {})
    default = next((r for r in e2e.get("rows", []) if not r["args"]), None)
    for label, key, limit, unit in ((f"test well 5 end to end < {GOAL_SECONDS:.0f} s (run defaults)",
                                     "seconds", GOAL_SECONDS, "s"),
                                    (f"test well 5 peak RSS < 2 GB ({GOAL_RSS_MB:,.0f} MB)",
                                     "peak_rss_mib", GOAL_RSS_MB / 1.048576, "MiB")):
        value = default.get(key) if default else None
        if value is None:
            why = e2e.get("skipped") or (default or {}).get("error") or e2e.get("error") or "not measured"
            out.append({"goal": label, "figure": why, "status": "n/a"})
            continue
        shown = f"{value:.1f} s" if unit == "s" else f"{value:,.0f} MiB = {value * 1.048576:,.0f} MB"
        out.append({"goal": label, "figure": shown, "status": "met" if value < limit else "missed", "value": value})
    return out


def _fastest_and_best(model: dict | None, kind: str):
    """(setting, row) of the highest patches/s and of the highest fraction of its ceiling."""
    if not model:
        return None, None
    found = [(s, r) for s, r in model[kind]["settings"].items() if r.get("fraction_of_ceiling") is not None]
    if not found:
        return None, None
    return (max(found, key=lambda t: t[1]["patches_per_s"]),
            max(found, key=lambda t: t[1]["fraction_of_ceiling"]))


def markdown(results: dict) -> str:
    """The docs section (without markers)."""
    m = results["machine"]
    device = m["device"]
    where = m.get("gpu", m["cpu_model"]) if device != "cpu" else m["cpu_model"]
    parts = [f"## Speed ({'CUDA: ' + where if device != 'cpu' else 'CPU'}), measured by `benchmarks/speed.py`",
             "",
             f"Measured {results['date']} with `{results['command']}` "
             f"({results['mode']} mode; {results['repeats']} interleaved repeat(s), medians; "
             f"{results['seconds']:.0f} s in all). Machine: {_machine_line(m)}. "
             "Shared machines drift: compare figures within this section, not across runs.",
             ""]
    if "models" in results:
        parts += ["### Matrix-multiply ceilings", "", _ceiling_table(results), "",
                  "### Models", "", _model_table(results), "",
                  "Forward FLOPs counted by `forward_flops` (torch `FlopCounterMode`: convolutions and matrix "
                  "products; a multiply-add = 2); training counts 3 x forward FLOPs (forward + two backward "
                  "products). Intensity = forward FLOPs of one inference batch / bytes of every layer's inputs "
                  "and outputs and of the weights (once per batch), in fp32 (element-wise ops outside modules "
                  "not counted, so an upper bound); roofline = min(fp32 ceiling, intensity x copy bandwidth): "
                  "'memory' means DRAM traffic alone keeps the model below the matmul ceiling; 'compute' means "
                  "it does not, so a shortfall comes from elsewhere: few channels per convolution (short inner "
                  "loops, poor use of the vector units), per-operator overhead, and element-wise work (batch "
                  "norm, activations, padding, concatenation, optimiser) that the FLOP count leaves out. The "
                  "bf16 ceiling is only high on CPUs with avx512_bf16 or AMX (see the machine line).",
                  "", "### Training throughput (36x36-patch equivalents per second)", "",
                  _speed_table(results, "train"), "",
                  "### Inference throughput (model.eval(), torch.inference_mode)", "",
                  _speed_table(results, "infer"), ""]
    else:
        parts += ["Ceilings and model tables: not run (--skip-models).", ""]
    parts += ["### End to end: `corroseg predict RUN WELL.npz --out OUT` in a fresh process", "",
              _e2e_text(results), "", "### Goals", "",
              md_table(["goal", "figure", "status"],
                       [[g["goal"], g["figure"], f"**{g['status']}**"] for g in results["goals"]]), ""]
    return "\n".join(parts)


def _machine_line(m: dict) -> str:
    bits = [f"{m['cpu_model']}, {m['cpus_usable']} usable CPUs", f"torch {m['torch']} with "
            f"{m['torch_threads']} threads", f"Python {m['python']}", m["platform"]]
    if "cpu_capability" in m:
        bf16 = ", ".join(m.get("cpu_bf16_isa") or []) or "no avx512_bf16/AMX"
        bits.insert(1, f"ISA {m['cpu_capability']} ({bf16})")
    if "gpu" in m:
        bits.insert(0, f"{m['gpu']} (CUDA {m['cuda']}, cudnn TF32 {'on' if m['cudnn_allow_tf32'] else 'off'})")
    bits.append(f"onnxruntime {m.get('onnxruntime')}")
    bits.append(f"load average {m['load_average_start']} at start, {m.get('load_average_end')} at end")
    return "; ".join(bits)


def _ceiling_table(results: dict) -> str:
    c = results.get("ceilings")
    if not c or "error" in c:
        return f"Not measured: {(c or {}).get('error', 'skipped')}"
    labels = {"fp32": "fp32 (TF32 off)" if results["machine"]["device"] != "cpu" else "fp32",
              "tf32": "fp32 with TF32", "bf16": "bf16"}
    rows = [[labels.get(k, k), f"{c['size']} x {c['size']}", fmt(v)] for k, v in c["gflops"].items()]
    rows += [[k, "-", f"FAILED: {e}"] for k, e in c["errors"].items()]
    rows.append(["memory copy (GB/s, read + write)", f"{c['copy_mib']:.0f} MiB", fmt(c["copy_gbps"])])
    return (f"{c['threads']} torch threads.\n\n"
            + md_table(["precision", "matrices", "GFLOP/s"], rows, {2}))


def _model_table(results: dict) -> str:
    rows = []
    for r in results.get("models", []):
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items()) or "defaults"
        gflop = fmt(r.get("gflop_per_patch"))
        if "paper_gflop_per_patch" in r:
            gflop += f" (paper width: {fmt(r['paper_gflop_per_patch'])})"
        rows.append([r["model"], opts, fmt(r.get("parameters")), gflop, fmt(r.get("intensity_flop_per_byte")),
                     fmt(r.get("roofline_gflops")), r.get("bound", r.get("profile_error", "-")), r["note"]])
    return md_table(["model", "options", "parameters", "fwd GFLOP/patch", "intensity (FLOP/B)",
                     "fp32 roofline (GFLOP/s)", "roofline bound", "measured as"], rows, {2, 3, 4, 5})


def _speed_table(results: dict, kind: str) -> str:
    rows = []
    for r in results.get("models", []):
        part = r[kind]
        shape = f"{part['window'][0]}x{part['window'][1]} x {part['batch']}"
        if "error" in part:
            rows.append([r["model"], shape, "all", f"FAILED: {part['error']}", "-", "-", "-"])
        for setting, s in part["settings"].items():
            rate = f"FAILED: {s['error']}" if "error" in s else fmt(s.get("patches_per_s"))
            ceiling = f"{pct(s.get('fraction_of_ceiling'))} of {s['ceiling']}" if s.get("ceiling") else "-"
            speedup = f"{s['speedup']:.2f}x" if s.get("speedup") else "-"
            rows.append([r["model"], shape, setting, rate, speedup, fmt(s.get("gflops")), ceiling])
        for setting, reason in part.get("skipped", {}).items():
            rows.append([r["model"], shape, setting, f"skipped: {reason}", "-", "-", "-"])
    base = "fp32 NCHW" if kind == "train" else "eager fp32"
    return md_table(["model", "window x batch", "setting", "patches/s", f"vs {base}", "achieved GFLOP/s",
                     "of ceiling"], rows, {3, 4, 5})


def _e2e_text(results: dict) -> str:
    if "end_to_end" not in results:
        return "Not run (--skip-e2e)."
    e = results["end_to_end"]
    if "skipped" in e:
        return f"Skipped: {e['skipped']}."
    if "error" in e and not e.get("rows"):
        return f"FAILED: {e['error']}"
    intro = [f"Well: {e.get('well')}. Run: {e.get('run')} (model {e.get('model')}, TTA {e.get('tta')}, "
             f"post-processing {e.get('postprocess')}; engine auto = {e.get('auto_engine')})."]
    if "setup_seconds" in e:
        intro.append(f"Training the throwaway run took {e['setup_seconds']:.1f} s (not counted); its weights "
                     "are barely trained, so the random walker's share (it works on uncertain pixels) may "
                     "differ from a real run's: give `--run` for a trained one.")
    intro.append("The prediction runs on CPU (`corroseg predict` has no GPU option), with torch's default "
                 "thread count; time includes Python start-up, imports, reading the well and writing mask + PNG.")
    rows = []
    for r in e.get("rows", []):
        status = f"FAILED: {r['error']}" if "error" in r else "ok"
        rss = r.get("peak_rss_mib")
        rows.append([r["variant"], fmt(r.get("seconds")),
                     "-" if rss is None else f"{rss:,.0f} MiB ({rss * 1.048576:,.0f} MB)", status])
    return " ".join(intro) + "\n\n" + md_table(["variant", "seconds", "peak RSS", "status"], rows, {1, 2})
