; ReelDrop installer for Windows (Inno Setup 6.3 or later).
;
; Build the app first (pyinstaller --noconfirm packaging\reeldrop.spec -> dist\reeldrop\), then:
;   iscc /DAppVersion=X.Y.Z packaging\windows\reeldrop.iss      -> dist\reeldrop-X.Y.Z-windows-x64-setup.exe
; CI passes /DAppVersion from app/__init__.py. Without it the version is read from the built
; reeldrop-gui.exe, whose version resource packaging/reeldrop.spec writes from app/__init__.py: the
; version is written in one place only.

#define AppName "ReelDrop"
#define AppExe "reeldrop-gui.exe"
#define RootDir AddBackslash(SourcePath) + "..\.."
#define DistDir RootDir + "\dist\reeldrop"
#ifndef AppVersion
  #define AppVersion GetStringFileInfo(DistDir + "\" + AppExe, "ProductVersion")
#endif
#if AppVersion == ""
  #error No version: pass /DAppVersion=X.Y.Z or build dist\reeldrop\reeldrop-gui.exe first
#endif

[Setup]
; AppId identifies the installation for upgrades and uninstall: never change it.
AppId={{6F1D4C2A-8B7E-4E55-9C3B-2A7D5E0F4B19}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=The ReelDrop developers
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install by default (no administrator needed); the user may choose all users instead.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#RootDir}\dist
OutputBaseFilename=reeldrop-{#AppVersion}-windows-x64-setup
SetupIconFile={#RootDir}\resources\icons\reeldrop.ico
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesEnvironment=yes
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the reeldrop command line to PATH"; GroupDescription: "Command line:"; Flags: unchecked

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "{#RootDir}\packaging\windows\reeldrop-server.cmd"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
const
  UserEnvironmentKey = 'Environment';
  MachineEnvironmentKey = 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment';

function EnvironmentRoot: Integer;
begin
  if IsAdminInstallMode then
    Result := HKEY_LOCAL_MACHINE
  else
    Result := HKEY_CURRENT_USER;
end;

function EnvironmentKey: String;
begin
  if IsAdminInstallMode then
    Result := MachineEnvironmentKey
  else
    Result := UserEnvironmentKey;
end;

procedure AddAppToPath;
var
  Paths, App: String;
begin
  App := ExpandConstant('{app}');
  if not RegQueryStringValue(EnvironmentRoot, EnvironmentKey, 'Path', Paths) then
    Paths := '';
  if Pos(';' + Uppercase(App) + ';', ';' + Uppercase(Paths) + ';') > 0 then
    Exit;
  if (Paths <> '') and (Paths[Length(Paths)] <> ';') then
    Paths := Paths + ';';
  RegWriteExpandStringValue(EnvironmentRoot, EnvironmentKey, 'Path', Paths + App);
end;

procedure RemoveAppFromPath;
var
  Paths, App: String;
  Found: Integer;
begin
  if not RegQueryStringValue(EnvironmentRoot, EnvironmentKey, 'Path', Paths) then
    Exit;
  App := ExpandConstant('{app}');
  Paths := ';' + Paths + ';';
  Found := Pos(';' + Uppercase(App) + ';', Uppercase(Paths));
  if Found = 0 then
    Exit;
  Delete(Paths, Found, Length(App) + 1);
  RegWriteExpandStringValue(EnvironmentRoot, EnvironmentKey, 'Path', Copy(Paths, 2, Length(Paths) - 2));
end;

procedure CurStepChanged(CurStep: TSetupStep);
begin
  if (CurStep = ssPostInstall) and WizardIsTaskSelected('addtopath') then
    AddAppToPath;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then
    RemoveAppFromPath;
end;
