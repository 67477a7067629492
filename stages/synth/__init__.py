"""Synthetic data: rephrasing, problem generation, reward scoring and filtering, verifiers, LLM annotation."""

INDEX = {
    # part A: generation and reward filtering
    "rephrase_v1": "dataforge.stages.synth.rephrase:Rephrase",
    "generate_problems_v1": "dataforge.stages.synth.problems:GenerateProblems",
    "reward_score_v1": "dataforge.stages.synth.reward_score:RewardScore",
    "reward_filter_v1": "dataforge.stages.synth.reward_filter:RewardFilter",
    # part B: verifiers, LLM quality annotation, PDF improvement
    "verify_math_v1": "dataforge.stages.synth.verify_math:VerifyMath",
    "verify_code_v1": "dataforge.stages.synth.verify_code:VerifyCode",
    "llm_annotate_v1": "dataforge.stages.synth.llm_annotate:LlmAnnotate",
    "train_classifier_v1": "dataforge.stages.synth.train_classifier:TrainClassifier",
    "pdf_vlm_ocr_v1": "dataforge.stages.synth.pdf_vlm:PdfVlmOcr",
    "llm_repair_v1": "dataforge.stages.synth.repair:LlmRepair",
}
