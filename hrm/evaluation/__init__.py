"""ARC evaluation: vote over augmented predictions, score them by the ARC Prize rule, write the
submission and per-task tables, draw the tasks and the halting curve.

    predictions (one per augmented test input)  --voting.vote-->  ranked candidate grids per test pair
    --voting.attempts-->  attempt_1, attempt_2  --scoring-->  pass@1, pass@2, all-correct@2, files
"""
