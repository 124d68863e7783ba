# XOSAN developer entry points. `make test` is what CI runs (through .ci/run).
PY36      ?= /root/.pyenv/versions/3.6.15/bin/python3
PY3       ?= python3
VENV      := .venv
V36       := $(VENV)/py36
V3        := $(VENV)/py3
DOM0_CODE := drivers xosan xosan_lab
PYTEST_ARGS ?=

.PHONY: all test test-py test36 test3 check36 venv lint deps lab lab-down rpm bench chaos clean appliance appliance-test

all: test

$(V36)/.ok: requirements-py36.txt
	rm -rf $(V36)
	$(PY36) -m venv $(V36)
	$(V36)/bin/pip install -q --disable-pip-version-check 'pip==21.3.1'
	$(V36)/bin/pip install -q -r requirements-py36.txt
	touch $@

$(V3)/.ok: requirements-py3.txt
	rm -rf $(V3)
	$(PY3) -m venv $(V3)
	$(V3)/bin/pip install -q --disable-pip-version-check -r requirements-py3.txt
	touch $@

venv: $(V36)/.ok $(V3)/.ok

# dom0 runs Python 3.6: everything under drivers/ and xosan/ must compile there (the lab, xosan_lab/, too: it runs there in lab dom0s).
check36: $(V36)/.ok
	@{ find $(DOM0_CODE) -name '*.py' -print0; printf 'plugins/xosan\0'; } | \
	  xargs -0 $(V36)/bin/python -c 'import sys; [compile(open(f).read(), f, "exec") for f in sys.argv[1:]]'
	@echo "check36: every dom0 file compiles on $$($(V36)/bin/python --version)"

test36: $(V36)/.ok check36
	$(V36)/bin/python -m pytest -ra -m "not slow" $(PYTEST_ARGS) tests

test3: $(V3)/.ok
	$(V3)/bin/python -m pytest -ra -m "not slow" $(PYTEST_ARGS) tests

# Both Pythons side by side (tests/both_pythons.sh; their labs never share names or addresses) and, beside
# them, the appliance built if absent and booted under qemu (appliance-test; its log is printed at the end).
# The three share nothing: the appliance test's VM talks only to a forwarded 127.0.0.1 port.
# test36/test3 run one Python alone.
test: $(V36)/.ok $(V3)/.ok
	@mkdir -p build/test-logs; rc=0; \
	  $(MAKE) --no-print-directory appliance-test >build/test-logs/appliance.log 2>&1 & app=$$!; \
	  $(MAKE) --no-print-directory test-py || rc=1; \
	  if wait $$app; then a=passed; else a=FAILED; rc=1; fi; \
	  echo "================ appliance-test: $$a ================"; cat build/test-logs/appliance.log; exit $$rc

test-py: $(V36)/.ok $(V3)/.ok check36
	bash tests/both_pythons.sh $(V36) $(V3) $(PYTEST_ARGS)

lint: $(V3)/.ok check36
	$(V3)/bin/python -m ruff check drivers xosan xosan_lab tests bench

deps:
	bash .ci/install-deps

# The main job: a simulated 3-host pool on this machine, `xosan deploy` on it, a VDI, status.
LAB_DIR ?= /var/lib/xosan-lab
lab: deps $(V3)/.ok $(V36)/.ok
	$(V3)/bin/python -m xosan_lab --workdir $(LAB_DIR) run $(if $(APPLIANCE),--image $(APPLIANCE))

lab-down: $(V3)/.ok
	$(V3)/bin/python -m xosan_lab --workdir $(LAB_DIR) down

# The dom0 package, build/rpm/xosan-<version>-<release>.noarch.rpm (RPM_OUT=DIR elsewhere).
rpm:
	bash rpm/build.sh "$(RPM_OUT)"

# Speed targets live here, never in timed tests: failover stall <= 5 s (HA fences at 60 s);
# sr_scan of an SR of 1,000 VDIs <= 5 s (real SM framework in a lab dom0 running dom0's Python 3.6);
# the data path (bench/perf.py, ~7 min: raw brick vs stock vs XOSAN volume, one lab, XOSAN/stock
# >= 1.5 on 4K random qd16, >= 1.0 on 1M, client CPU per 4K I/O <= stock's), then the same rows through
# tapdisk over NBD (~5 min). Every part runs; any failing (or measuring nothing) fails the bench.
# PERF_ARGS: e.g. --long (30 s runs, 5 rounds).
PERF_ARGS ?=
bench: deps $(V3)/.ok $(V36)/.ok
	@rc=0; $(V3)/bin/python bench/failover.py || rc=1; $(V3)/bin/python bench/scan.py || rc=1; \
	  $(V3)/bin/python bench/perf.py $(PERF_ARGS) || rc=1; $(V3)/bin/python bench/perf.py --tapdisk $(PERF_ARGS) || rc=1; \
	  exit $$rc

# Chaos: a checksum-verified fsync'd writer while nodes fail and return one at a time (kill and cut, data
# nodes and the arbiter), then every record, both data copies of every shard, split-brain and heals checked.
# Targets: 0 lost/corrupt, 0 differing copies, 0 split-brain, stall <= 5 s, full redundancy <= 60 s.
CHAOS_CYCLES ?= 21
# Builds its own lab (id ch1, 10.250.240.0/24); about 7 min. Arguments: CHAOS_CYCLES, CHAOS_OUTAGE, CHAOS_ARGS.
CHAOS_OUTAGE ?= 8
# Then bench/daytwo.py (~7 min, labs xy3/xy6 on 10.250.90-91): the same writer through maintenance enter/exit
# of every host, a storage VM rebooted during another's maintenance, replace-host, and add-host of a whole
# replica set plus rebalance on 6 hosts. Both parts always run; either failing fails the target.
DAYTWO_ARGS ?=
chaos: deps $(V3)/.ok
	@rc=0; $(V3)/bin/python bench/chaos.py --cycles $(CHAOS_CYCLES) --outage $(CHAOS_OUTAGE) $(CHAOS_ARGS) || rc=1; \
	  $(V3)/bin/python bench/daytwo.py $(DAYTWO_ARGS) || rc=1; exit $$rc

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache

# The storage VM's system disk: build/appliance/xosan-storage-vm-<version>.vhd + manifest.json (root).
appliance:
	bash appliance/install-deps
	bash appliance/build.sh

# Boots the built image under qemu and checks it over SSH (slow: minutes); builds it first if absent.
# qemu uses KVM when /dev/kvm works here, else TCG (the test prints which); XOSAN_APPLIANCE_ACCEL=tcg|kvm forces one.
appliance-test: $(V3)/.ok
	bash appliance/install-deps
	@ls build/appliance/manifest.json >/dev/null 2>&1 || $(MAKE) appliance
	$(V3)/bin/python -m pytest -ra -m slow tests/test_appliance.py tests/test_appliance_import.py
