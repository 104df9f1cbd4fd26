"""The original agent, rebuilt: its decision-log format, a simulated world, a bootstrap teacher standing in
for GPT-2, an oracle, a log collector, and the trained policy an agent loop calls instead of GPT-2."""
