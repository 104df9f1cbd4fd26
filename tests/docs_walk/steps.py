"""How the walk runs each documented command: its short form and what its text says it does.

A `python train.py ...` command runs as written plus `debug=tiny` (seconds, not hours) unless listed here;
anything else runs as written unless listed. Every entry must match a documented command (the walk fails
on a stale one), so a command changed in the docs is changed here too.
"""

from __future__ import annotations

from dataclasses import dataclass

ONE_LINE_ERROR = r"(?m)^error: "


@dataclass(frozen=True)
class Step:
    short: str | None = None  # what the walk runs instead of the documented command
    rc: int = 0  # the exit status its text promises (-9: killed by SIGKILL)
    says: str = ""  # a regex its output matches
    skip: str = ""  # why it is not run here (the reason is printed)
    before: str = ""  # what a reader has done first that the docs leave to them (a name in test_walk.SETUPS)


GPU_REFUSED = Step(rc=2, says=r"(?m)^error: .*GPU")
TRAINS = r"results \(all of them in metrics.json\)"
FINISHED = r"finished earlier: "
# Placeholders in the docs, and what the walk puts in their place: {newest:<glob>} is the newest match.
PLACEHOLDERS = {
    "experiments/multiruns/<time>": "{newest:experiments/multiruns/*}",
    "experiments/runs/arc_tiny/<time>": "{newest:experiments/runs/arc_tiny/*}",
    "/path/to/gpt2": "{gpt2}",
}

STEPS: dict[str, Step] = {
    "make train": Step(short="make train ARGS=debug=tiny", says=TRAINS),
    "make test": Step(skip="the suite this walk is part of"),
    "python train.py": Step(says=FINISHED),  # make train ran it
    "python train.py trainer=gpu": GPU_REFUSED,
    "python train.py experiment=arc_full trainer=gpu": GPU_REFUSED,
    "python train.py experiment=sudoku6 trainer=mps": Step(rc=2, says=r"(?m)^error: .*no Apple GPU"),  # no Mac here
    "python train.py experiment=arc_full trainer=gpu trainer.strategy=ddp trainer.devices=4": GPU_REFUSED,
    "python train.py seed=2 crash_at_step=150": Step(short="python train.py seed=2 crash_at_step=3 debug=tiny", rc=-9),
    "python train.py seed=2": Step(says=r"resuming from \S+last.ckpt \(step 2"),  # debug=tiny saves every 2
    "python train.py logger=csv": Step(says=FINISHED),
    "python train.py --help": Step(says=r"experiment: "),
    "python train.py experiment=arc_tiny model.net.hidden_size=256 data.num_aug=100 seed=1 experiment_name=wide":
        Step(says=r"checkpoints/wide \(checkpoints\)"),
    "python train.py experiment=agent_imitation model=hrm_gpt2vocab":  # the command line's model wins
        Step(says=r"checkpoints/agent_imitation_hrm_gpt2vocab\s"),
    "python train.py experiment=agent_imitation data=scenarios train=false "
    "ckpt_path=checkpoints/agent_imitation_hrm_agent/best.ckpt":
        Step(says=r"(?s)^(?!.*new run).*evaluating checkpoints/agent_imitation_hrm_agent/best.ckpt.*scenarios/"),
    "python train.py experiment=arc_tiny train=false": Step(says=r"evaluating \S+checkpoints/arc_tiny/last.ckpt"),
    "python train.py experiment=arc_full train=false ckpt_path=checkpoints/arc_full/best.ckpt":
        Step(says=r"evaluating checkpoints/arc_full/best.ckpt"),
    "python train.py experiment=arc_tiny test=true": Step(says=FINISHED),
    "python train.py experiment=agent_rl": Step(says=r"starting from the imitation checkpoint \S+agent_imitation_"),
    "python train.py experiment=agent_rl model.init_from=checkpoints/agent_imitation_hrm_gpt2vocab/best.ckpt":
        Step(says=r"starting from the imitation checkpoint checkpoints/agent_imitation_hrm_gpt2vocab/best.ckpt"),
    "python train.py experiment=agent_lora model.adapter=checkpoints/agent_lora/last.adapter": Step(says=TRAINS),
    "python -m hrm.agent.merge_lora --checkpoint checkpoints/agent_lora/best.ckpt --out experiments/gpt2_lora_merged":
        Step(says=r"wrote experiments/gpt2_lora_merged"),
    "python train.py experiment=vae_distill": Step(says=r"tiny_vae.safetensors"),
    "python train.py experiment=arc_full seed=42 data.precomputed_dir=data/arc-aug-500":
        Step(says=r"precomputed in data/arc-aug-500"),
    "python train.py experiment=arc_full --cfg job": Step(says=r"(?m)^experiment_name: arc_full"),
    "python train.py -m experiment=arc_tiny model.net.hidden_size=64,128 seed=1,2":
        Step(says=r"sweep of 4 jobs"),
    "python -m hrm.dashboard 'experiments/multiruns/<time>'": Step(says=r"dashboard.html"),
    "python -m hrm.dashboard 'experiments/runs/arc_tiny/<time>'": Step(says=r"dashboard.html"),
    "python -m hrm.dashboard experiments/runs/arc_tiny --out page.html": Step(says=r"page.html"),
    "python train.py -m hydra/launcher=slurm experiment=arc_full trainer=gpu trainer.strategy=ddp trainer.devices=4 "
    "trainer.num_nodes=2 'hydra.launcher.partition=<partition>' hydra.launcher.timeout_min=1440":
        Step(skip="needs a SLURM cluster with GPUs; tests/test_slurm.py runs this launcher on a fake SLURM"),
    "python -m hrm.agent.collect --episodes 22 --steps 50 --seed 1 --out data/my_decisions.json":
        Step(says=r"data/my_decisions.json"),
    "python -m hrm.agent.autopilot --out experiments/autopilot":
        Step(short="python -m hrm.agent.autopilot --out experiments/autopilot --examples 60 --steps 10 debug=tiny"),
    "python train.py experiment=agent_lora model.pretrained=/path/to/gpt2": Step(says=TRAINS),
    "python -m hrm.agent.collect --teacher gpt2 --lm gpt2 --out data/gpt2_decisions.json":
        Step(short="python -m hrm.agent.collect --teacher gpt2 --lm {gpt2} --episodes 1 --steps 3 "
                   "--out data/gpt2_decisions.json"),
    "python -m hrm.data.build_arc --num-aug 500 --seed 42 --output-dir data/arc-aug-500":
        Step(short="python -m hrm.data.build_arc --num-aug 2 --max-tasks 2 --canvas 10 --seed 42 "
                   "--output-dir data/arc-aug-500", says=r"wrote data/arc-aug-500"),
    "python -m hrm.convert official path/to/HRM-checkpoint-sudoku-extreme --out checkpoints/official_sudoku "
    "--seq-len 81": Step(says=r"wrote checkpoints/official_sudoku/last.ckpt", before="official"),
    "python train.py experiment=paper/hrm_sudoku_extreme train=false ckpt_path=checkpoints/official_sudoku/last.ckpt":
        Step(short="python train.py experiment=paper/hrm_sudoku_extreme train=false "
                   "ckpt_path=checkpoints/official_sudoku/last.ckpt debug=tiny data.size=9 "
                   "data.train_csv=sudoku-extreme/train.csv data.test_csv=sudoku-extreme/test.csv",
             says=r"evaluating checkpoints/official_sudoku/last.ckpt(?s:.*)test/ +accuracy", before="sudoku-extreme"),
    "python -m hrm.convert official path/to/HRM-checkpoint-ARC-2 --out checkpoints/official_arc2 --seq-len 900 "
    "--identifiers path/to/arc-2-aug-1000/identifiers.json":  # debug=tiny's canvas is 10x10
        Step(short="python -m hrm.convert official path/to/HRM-checkpoint-ARC-2 --out checkpoints/official_arc2 "
                   "--seq-len 100 --identifiers path/to/arc-2-aug-1000/identifiers.json",
             says=r"wrote checkpoints/official_arc2/last.ckpt", before="official_arc2"),
    "python train.py experiment=paper/hrm_arc2 data.identifiers=path/to/arc-2-aug-1000/identifiers.json train=false "
    "ckpt_path=checkpoints/official_arc2/last.ckpt data.test_num_aug=8":
        Step(says=r"evaluating checkpoints/official_arc2/last.ckpt(?s:.*)official rule"),
    "python train.py experiment=paper/hrm_arc1 trainer=gpu": GPU_REFUSED,
    "python train.py experiment=paper/trm_sudoku_extreme trainer=gpu trainer.strategy=ddp trainer.devices=8 "
    "trainer.accumulate_grad_batches=1": GPU_REFUSED,
    "python -m hrm.bench agent": Step(short="python -m hrm.bench agent --decisions 2 debug=tiny",
                                      says=r"record experiments/bench/agent.json"),
    "python -m hrm.bench rl": Step(short="python -m hrm.bench rl --budget 2 debug=tiny",
                                   says=r"record experiments/bench/rl.json"),
    "python -m hrm.bench compare":  # debug=tiny's agent runs learn from a log of their own
        Step(short="python -m hrm.bench compare --decisions 2 --log data/hrm_training_data_tiny.json",
             says=r"record experiments/bench/compare.json"),
    "python -m hrm.bench vae": Step(short="python -m hrm.bench vae --repeats 1 debug=tiny",
                                    says=r"record experiments/bench/vae.json"),
    "python -m hrm.bench step": Step(short="python -m hrm.bench step --models arc_tiny --steps 1 --max-batch 2"),
    "python -m hrm.bench step --compile":
        Step(short="python -m hrm.bench step --compile --models arc_tiny --steps 1 --max-batch 1"),
    "python -m hrm.bench memory --variant 'model.activation_checkpointing=false model.compile=false'":
        Step(short="python -m hrm.bench memory --experiment arc_tiny --steps 2 "
                   "--variant 'model.activation_checkpointing=false model.compile=false' debug=tiny",
             says=r"(?s)Peak memory: experiment=arc_tiny.*"
                  r"\| model.activation_checkpointing=false model.compile=false \|"),
    "python -m hrm.bench results": Step(says=r"wrote docs/results.md from \d+ records in docs/results"),
    "python -m hrm.bench eval": Step(short="python -m hrm.bench eval --repeats 1 debug=tiny",
                                     says=r"record\s+experiments/bench/eval.json"),
    "python train.py experiment=vae_teacher data=cifar10": Step(says=TRAINS, before="cifar10"),
    # debug=tiny's Sudoku is 4x4; the CSVs' are 9x9
    "python train.py experiment=sudoku9 data.train_csv=sudoku-extreme/train.csv data.test_csv=sudoku-extreme/test.csv":
        Step(short="python train.py experiment=sudoku9 data.train_csv=sudoku-extreme/train.csv "
                   "data.test_csv=sudoku-extreme/test.csv debug=tiny data.size=9",
             says=TRAINS, before="sudoku-extreme"),
    "python -m hrm.predict ckpt=checkpoints/arc_tiny/last.ckpt input=data/examples/arc":
        Step(says=r"(?s)trained on \d+ tasks of arc-agi-1.*written: experiments/predict/arc/"),
    # debug=tiny's Sudoku is 4x4 and its mazes 7x7: the 6x6 file is refused in one line, the others given inline
    "python -m hrm.predict ckpt=checkpoints/sudoku6/last.ckpt input=data/examples/sudoku6.txt":
        Step(short="python -m hrm.predict ckpt=checkpoints/sudoku6/last.ckpt input=1..4.4....1.2..3",
             says=r"(?s)answer \((NOT )?solved.*written: experiments/predict/input/predictions.csv"),
    "python -m hrm.predict ckpt=checkpoints/sudoku6/last.ckpt input=data/examples/sudoku6.csv":
        Step(rc=2, says=ONE_LINE_ERROR + r".*the model reads 16 cells over 6 tokens; .*sudoku6.csv holds a 6x6"),
    "python -m hrm.predict ckpt=checkpoints/maze/last.ckpt input=data/examples/maze9.txt":
        Step(short="python -m hrm.predict ckpt=checkpoints/maze/last.ckpt "
                   "'input=#######\n# G   #\n##### #\n#   # #\n# ### #\n#  S  #\n#######\n'",
             says=r"(?s)maze \(input\).*written: experiments/predict/input-2/predictions.csv"),
    "python -m hrm.predict ckpt=checkpoints/arc_tiny/last.ckpt input=data/examples/arc adapt=true":
        Step(short="python -m hrm.predict ckpt=checkpoints/arc_tiny/last.ckpt input=data/examples/arc adapt=true "
                   "adapt_steps=4", says=r"adapted to the \d+ new to it \(4 steps"),
    "python -m hrm.submit ckpt=experiments/shared/arc_tiny tasks=data/examples/arc "
    "out=experiments/submission/submission.json budget_s=120":
        Step(short="python -m hrm.submit ckpt=experiments/shared/arc_tiny tasks=data/examples/arc "
                   "out=experiments/submission/submission.json budget_s=30 adapt_steps=4",
             says=r"done: experiments/submission/submission.json complete"),
    "python -m hrm.hub save checkpoints/arc_tiny/last.ckpt experiments/shared/arc_tiny":
        Step(says=r"saved experiments/shared/arc_tiny/"),
    "python -m hrm.predict ckpt=experiments/shared/arc_tiny input=data/examples/arc":
        Step(says=r"(?s)trained on \d+ tasks of arc-agi-1.*written: experiments/predict/arc-\d+/"),
    "python -m hrm.bench adapt": Step(short="python -m hrm.bench adapt --tasks 2 --steps 2 --variants 1",
                                      says=r"record experiments/bench/adapt.json"),
    "python -m hrm.bench learn --task sudoku6 --budget 300":
        Step(short="python -m hrm.bench learn --task sudoku6 --budget 2 debug=tiny",
             says=r"record experiments/bench/learn_sudoku6.json"),
}

# Free names in the docs' Python snippets, defined the way a user would have them (run before the snippet).
PRELUDES: dict[str, str] = {
    "TrainingDataCollector": (
        "import json\n"
        "_first = json.load(open('data/my_decisions.json'))['examples'][0]\n"
        "state, action, result = _first['state'], _first['action'], _first['result']\n"),
    "vae.encode(images)": (
        "import torch\n"
        "images = torch.rand(2, 1, 32, 32)\n"),
}
# Files the snippets name by a bare file name, and where the walk's runs wrote them.
SNIPPET_FILES = {
    '"tiny_vae.safetensors"': '"checkpoints/vae_distill/tiny_vae.safetensors"',
    'GPT2LMHeadModel.from_pretrained("gpt2")': 'GPT2LMHeadModel.from_pretrained("{gpt2}")',
}
