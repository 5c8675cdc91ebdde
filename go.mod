module github.com/codex-remote-login/codex-remote-login

go 1.26.8
