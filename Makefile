# gr00t-ros: `make run` (set up + the stack on the simulated GR-1), `make test` (set up + tests).
.PHONY: setup run test bench clean

DURATION ?= 30
INSTRUCTION ?= pick up the red cube

setup:
	tools/setup.sh

run: setup
	. .venv/bin/activate && . tools/ros_env.sh && . install/setup.bash && \
	GR00T_MODELS_DIR=$(CURDIR)/models gr00t-launch sim --duration $(DURATION) \
	  --instruction "$(INSTRUCTION)" --summary out/sim_summary.json

test: setup
	tools/test.sh -q

clean:
	rm -rf build install log
