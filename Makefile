# Forge: one entry point for everything. See README.md.
#   make demo   install what is needed, build, serve examples/hello on 127.0.0.1
#   make test   install, build, start servers, run every test (unit, ASan/UBSan, integration)
#   make bench  benchmarks (ratios against native handlers, side by side)
#   make fuzz   run each libFuzzer target for a bounded time

BUILD      ?= build
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
WERROR     ?= OFF
DEMO_LISTEN ?= 127.0.0.1:8080
DEMO_APP   ?= hello
FUZZ_SECONDS ?= 30

CMAKE_FLAGS = -DFORGE_WERROR=$(WERROR)

.PHONY: all deps build test unit asan integration format-check demo bench fuzz install clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

asan: deps
	cmake -S . -B build-asan -DFORGE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -L unit

integration: build
	bash tests/integration/run.sh $(BUILD)

format-check:
	@bash scripts/check-format.sh

test: build unit asan integration

demo: build
	bash scripts/demo.sh $(BUILD) $(DEMO_LISTEN) $(DEMO_APP)

bench: build
	bash bench/run.sh $(BUILD)

fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DFORGE_FUZZ=ON -DFORGE_TESTS=OFF -DFORGE_HOSTS=OFF \
		-DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-fuzz -j $(JOBS)
	bash fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-fuzz
