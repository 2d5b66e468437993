# gr00t-ros: `make run` (set up + the stack on the simulated GR-1), `make test` (set up + tests).
.PHONY: setup lerobot-env run test bench clean

DURATION ?= 30
# A seeded episode of the tabletop task suite (gr00t_sim.tasks); its instruction is sent unless
# INSTRUCTION is given, and the summary says whether the task succeeded.
EPISODE ?= reach/10003
INSTRUCTION ?=
SUMMARY ?= out/sim_summary.json

setup:
	tools/setup.sh

run: setup
	tools/in_env.sh gr00t-launch sim --duration $(DURATION) --episode $(EPISODE) \
	  $(if $(INSTRUCTION),--instruction "$(INSTRUCTION)") --summary $(SUMMARY)

# The separate environment in which a test loads our datasets with LeRobot's own loader; that test
# is skipped (not failed) when the environment cannot be made, so '-' keeps a failed install from
# stopping the other tests.
lerobot-env:
	-tools/lerobot_check/setup.sh

test: setup lerobot-env
	tools/test.sh -q

clean:
	rm -rf build install log
