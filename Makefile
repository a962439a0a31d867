# Building, testing and installing totem. Needs Go on PATH (or GO=/path/to/go).
#
#   make build                  commands into ./bin/
#   make test                   the README's test command (go test -race ./...)
#   make build && sudo make install install-systemd
#                               binaries into $(PREFIX)/bin, the systemd unit, the
#                               sysusers.d file and the example config (see README)

GO ?= go
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DESTDIR ?=

# Every command: totemd, totemctl, totemsim, totemload, and the demos' counter and chat.
COMMANDS := ./cmd/... ./demo/counter ./demo/chat

.PHONY: all build install test vet fuzz ci install-systemd clean

all: build

build:
	$(GO) build -o bin/ $(COMMANDS)

# install copies what make build left in bin/ (building it only if there is none), so
# that "sudo make install" after "make build" needs no Go for root.
bin/totemd:
	$(GO) build -o bin/ $(COMMANDS)

install: | bin/totemd
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 bin/* $(DESTDIR)$(BINDIR)/

test:
	$(GO) test -race ./...

vet:
	$(GO) vet ./...

# The fuzz targets for a few seconds each, as CI runs them (the lines of .ci/run).
fuzz:
	grep -E '^go test .*-fuzz ' .ci/run | sed 's|^go |$(GO) |' | sh -ex

ci:
	bash .ci/run

# The unit runs $(BINDIR)/totemd and reads $(SYSCONFDIR)/totem/totem.toml. An existing
# totem.toml is never touched: the example is installed beside it.
install-systemd:
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/totem
	sed -e 's|/usr/local/bin/totemd|$(BINDIR)/totemd|g' -e 's|/etc/totem/|$(SYSCONFDIR)/totem/|g' \
		packaging/systemd/totemd.service > $(DESTDIR)$(UNITDIR)/totemd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/totemd.service
	install -m 0644 packaging/systemd/totem.sysusers $(DESTDIR)$(SYSUSERSDIR)/totem.conf
	install -m 0644 packaging/systemd/totem.toml.example $(DESTDIR)$(SYSCONFDIR)/totem/totem.toml.example
	@echo
	@echo "Installed $(UNITDIR)/totemd.service. Then, as root:"
	@echo "  systemd-sysusers                 # creates user and group totem"
	@echo "  cp -n $(SYSCONFDIR)/totem/totem.toml.example $(SYSCONFDIR)/totem/totem.toml   # and edit it"
	@echo "  totemd keygen $(SYSCONFDIR)/totem/authkey && chown totem:totem $(SYSCONFDIR)/totem/authkey"
	@echo "  totemd check-config $(SYSCONFDIR)/totem/totem.toml"
	@echo "  systemctl daemon-reload && systemctl enable --now totemd"

clean:
	rm -rf bin
