"""The GUI soak behind tools/gui_soak.py (issue 12, "zero crashes"): launch the real desktop app many times
on a private X desktop, drive it like a user, fail on any crash. processes.py runs and stops programs;
desktop.py gives Xvfb, openbox and a throwaway keyring; server.py a separate reeldrop-server; xdotool.py
the X input; home.py a launch's files and settings; plan.py its seeded plan and result; launch.py the app
in one home and what a user does to it; drive.py one launch's course; verdict.py whether it crashed;
run.py the whole soak."""
