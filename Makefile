# The two commands a newcomer needs (both install whatever the machine lacks first):
#   make run    build and serve the app on http://127.0.0.1:3000
#   make test   run every test
# and, for measurements (not part of the tests): make bench
.PHONY: run test setup bench
run:
	./scripts/run.sh
test:
	./scripts/test.sh
setup:
	./scripts/setup.sh
bench:
	./scripts/bench.sh
