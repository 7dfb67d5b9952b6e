"""Evaluation: question sets, metrics, a resumable runner, reports and the tutorial baseline.

    from qa.evaluation import load_dataset, run_eval
    report = run_eval(service, load_dataset("data/eval/sample_qa.jsonl"))
    report.overall["accuracy"]
"""

from qa.evaluation.datasets import EvalItem, load_dataset
from qa.evaluation.report import EvalReport
from qa.evaluation.runner import QuestionResult, run_eval

__all__ = ["EvalItem", "EvalReport", "QuestionResult", "load_dataset", "run_eval"]
