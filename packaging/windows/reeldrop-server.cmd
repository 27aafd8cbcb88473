@echo off
rem `reeldrop-server ...` on Windows: the reference backend lives in reeldrop.exe.
"%~dp0reeldrop.exe" server %*
