"""A seeded stand-in for the original autonomous agent's world: goals, a curiosity queue, a knowledge
base and improvement proposals reviewed by a human.

Each iteration the agent takes one of four actions; `AgentWorld.step` carries it out and returns the
result (with the original agent's statuses) and the reward of the original design's `_calculate_reward`.
The rules below are the simulator's whole model; `expected_rewards` states them as the mean reward of
each action in a state, which is what the oracle maximises. Every rule reads only what the logged state shows:

- web_search: answers the top curiosity item with probability 0.9 (1-3 pieces of knowledge, and maybe
  a follow-up question); with an empty queue it searches a goal and rarely finds anything (0.2, 1 piece).
- ask_human: the human answers (and suggests 1-2 topics to look into) unless asked within the last
  two actions, when they are busy and the question fails.
- propose_improvement: while an earlier proposal is under review (one among the last five actions) a
  new one is `already_pending`. Otherwise, with at least 8 pieces of knowledge it is `approved` (and
  consumes them: the knowledge goes into the improvement, which also completes a goal); with less it
  waits as `pending_approval`.
- idle: nothing happens.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hrm.agent.schema import validate_action

SEARCH_SUCCESS = 0.9  # a search for a curiosity item finds something
SEARCH_KNOWLEDGE = (1, 3)  # pieces found, uniform
BLIND_SEARCH_SUCCESS = 0.2  # a search with an empty curiosity queue finds one piece
FOLLOW_UP = 0.4  # a successful search raises a new question
SPONTANEOUS_CURIOSITY = 0.1  # per iteration, a question arises on its own
HUMAN_BUSY_WINDOW = 2  # the human does not answer again within this many actions
REVIEW_WINDOW = 5  # a proposal stays under review this many actions (the length of recent_actions)
APPROVAL_KNOWLEDGE = 8  # knowledge a proposal needs to be approved (and uses up)
RECENT = 5  # actions and knowledge items a state shows

TOPICS = (
    "efficient attention mechanisms", "sparse mixture of experts", "adaptive computation time",
    "recurrent depth in transformers", "rotary position embeddings", "low-rank adaptation",
    "knowledge distillation", "curriculum learning", "program synthesis", "abstract reasoning benchmarks",
    "deep equilibrium models", "state space models", "retrieval augmented generation", "tool use by agents",
    "reward modelling", "policy gradient variance", "planning with world models", "meta-learning",
    "continual learning without forgetting", "model compression", "quantisation-aware training",
    "self-supervised objectives", "chain of thought", "test-time compute", "symbolic regression",
    "hierarchical reinforcement learning", "uncertainty estimation", "neural architecture search",
    "memory-augmented networks", "data augmentation for grids",
)
GOALS = (
    ("understanding", "Deeply understand my own architecture"),
    ("understanding", "Learn how hierarchical reasoning emerges"),
    ("capability", "Solve more abstract reasoning puzzles"),
    ("capability", "Answer research questions with citations"),
    ("efficiency", "Make my reasoning loop faster"),
    ("efficiency", "Reduce memory use during training"),
    ("self_improvement", "Propose a better halting mechanism"),
    ("self_improvement", "Improve my planning module"),
    ("exploration", "Survey recent work on recursive models"),
    ("exploration", "Find open problems worth studying"),
)
FINDINGS = ("reduces compute", "improves sample efficiency", "helps generalisation", "is unstable without tuning",
            "scales well", "needs careful initialisation", "pairs well with deep supervision")


def calculate_reward(action: dict, result: dict) -> float:
    """The original design's `_calculate_reward`, unchanged."""
    reward = 0.0
    if action["action"] == "web_search":
        if result.get("knowledge_gained", 0) > 0:
            reward += 1.0 * result["knowledge_gained"]
        else:
            reward -= 0.5  # wasted search
    elif action["action"] == "propose_improvement":
        if result.get("status") == "approved":
            reward += 10.0
        elif result.get("status") == "already_pending":
            reward -= 2.0  # duplicate proposal
        elif result.get("status") == "pending_approval":
            reward += 1.0
    elif action["action"] == "ask_human":
        if result.get("status") == "completed":
            reward += 0.5
        else:
            reward -= 0.1
    elif action["action"] == "idle":
        reward -= 0.1
    return reward


def proposal_under_review(state: dict) -> bool:
    return "propose_improvement" in state["recent_actions"][-REVIEW_WINDOW:]


def human_busy(state: dict, window: int = HUMAN_BUSY_WINDOW) -> bool:
    return "ask_human" in state["recent_actions"][-window:]


def expected_rewards(state: dict, approval_knowledge: int = APPROVAL_KNOWLEDGE,
                     busy_window: int = HUMAN_BUSY_WINDOW) -> dict[str, float]:
    """Each action's mean reward in `state` under the rules above (what the oracle compares). The two
    keyword arguments let a policy believe the rules with other thresholds (the bootstrap teacher)."""
    mean_found = sum(SEARCH_KNOWLEDGE) / 2
    if state["curiosity_count"] > 0:
        search = SEARCH_SUCCESS * mean_found - (1 - SEARCH_SUCCESS) * 0.5
    else:
        search = BLIND_SEARCH_SUCCESS * 1.0 - (1 - BLIND_SEARCH_SUCCESS) * 0.5
    if proposal_under_review(state):
        propose = -2.0
    elif state["knowledge_count"] >= approval_knowledge:
        propose = 10.0
    else:
        propose = 1.0
    return {
        "web_search": search,
        "ask_human": -0.1 if human_busy(state, busy_window) else 0.5,
        "propose_improvement": propose,
        "idle": -0.1,
    }


@dataclass
class Goal:
    description: str
    goal_type: str


@dataclass
class AgentWorld:
    """One episode of the agent's life. Deterministic given `seed`."""

    seed: int
    start_time: datetime = datetime(2025, 10, 26, 9, 0, 0)
    rng: random.Random = field(init=False)
    goals: list[Goal] = field(init=False)
    curiosity: list[str] = field(init=False)
    knowledge: list[str] = field(init=False)
    actions: list[str] = field(default_factory=list, init=False)
    questions_asked: int = field(default=0, init=False)
    searches_performed: int = field(default=0, init=False)
    iteration: int = field(default=0, init=False)

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        self.goals = [Goal(text, kind) for kind, text in self.rng.sample(GOALS, self.rng.randint(2, 4))]
        self.curiosity = self.rng.sample(TOPICS, self.rng.randint(0, 3))
        self.knowledge = [self._finding(self.rng.choice(TOPICS)) for _ in range(self.rng.randint(0, 9))]

    def _finding(self, topic: str) -> str:
        return f"{topic} {self.rng.choice(FINDINGS)}"

    def state(self) -> dict:
        """The state as the original agent's `_encode_agent_state` logged it."""
        return {
            "active_goals": [g.description for g in self.goals[:5]],
            "goal_types": [g.goal_type for g in self.goals[:5]],
            "curiosity_count": len(self.curiosity),
            "top_curiosity": self.curiosity[:3],
            "knowledge_count": len(self.knowledge),
            "recent_knowledge": [k[:100] for k in self.knowledge[-3:][::-1]],
            "recent_actions": self.actions[-RECENT:],
            "questions_asked": self.questions_asked,
            "searches_performed": self.searches_performed,
            "iteration": self.iteration,
            "timestamp": (self.start_time + timedelta(minutes=3 * self.iteration)).isoformat(),
        }

    def action(self, name: str, confidence: float) -> dict:
        """The logged action `{action, query?, confidence}` for deciding `name` now: a search or a question
        is about the top curiosity item (or the first goal)."""
        topic = self.curiosity[0] if self.curiosity else self.goals[0].description.lower()
        query = {"web_search": topic, "ask_human": f"What should I read about {topic}?"}.get(name)
        return {"action": name, "confidence": confidence, **({"query": query} if query is not None else {})}

    def step(self, action: dict) -> tuple[dict, float]:
        """Carry out `action` ({action, query?, confidence}); returns (result, reward)."""
        action = validate_action(action)
        state = self.state()
        name = action["action"]
        result = getattr(self, f"_{name}")(state)
        self.actions.append(name)
        self.iteration += 1
        if self.rng.random() < SPONTANEOUS_CURIOSITY:
            self._add_curiosity()
        return result, calculate_reward(action, result)

    def _add_curiosity(self) -> None:
        fresh = [t for t in TOPICS if t not in self.curiosity]
        if fresh:  # every topic already queued: nothing new to wonder about
            self.curiosity.append(self.rng.choice(fresh))

    def _web_search(self, state: dict) -> dict:
        self.searches_performed += 1
        if self.curiosity:
            topic = self.curiosity.pop(0)
            found = self.rng.randint(*SEARCH_KNOWLEDGE) if self.rng.random() < SEARCH_SUCCESS else 0
            if found and self.rng.random() < FOLLOW_UP:
                self._add_curiosity()
        else:
            topic = self.goals[0].description.lower()
            found = 1 if self.rng.random() < BLIND_SEARCH_SUCCESS else 0
        self.knowledge.extend(self._finding(topic) for _ in range(found))
        return {"status": "completed" if found else "failed", "knowledge_gained": found}

    def _ask_human(self, state: dict) -> dict:
        self.questions_asked += 1
        if human_busy(state):
            return {"status": "failed"}
        for _ in range(self.rng.randint(1, 2)):
            self._add_curiosity()
        return {"status": "completed"}

    def _propose_improvement(self, state: dict) -> dict:
        if proposal_under_review(state):
            return {"status": "already_pending"}
        if len(self.knowledge) < APPROVAL_KNOWLEDGE:
            return {"status": "pending_approval"}
        del self.knowledge[:APPROVAL_KNOWLEDGE]
        self.goals.pop(0)  # the improvement achieves the first goal; a new one takes its place
        kind, text = self.rng.choice([g for g in GOALS if g[1] not in {x.description for x in self.goals}])
        self.goals.append(Goal(text, kind))
        return {"status": "approved"}

    def _idle(self, state: dict) -> dict:
        return {"status": "completed"}

