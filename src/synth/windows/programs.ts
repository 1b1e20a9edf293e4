// Which processes a Windows machine of each release runs: the boot chain with its parent
// links, services, the shell, user programs, and short-lived programs that exit. Names and
// paths are those of a default install (compare any pslist/pstree output of the release).
//
// Boot chains (general Windows knowledge; Russinovich & Solomon, Windows Internals 5th/6th
// ed., "Process tree during boot"):
// - XP: System → smss.exe → csrss.exe, winlogon.exe → services.exe, lsass.exe;
//   services.exe → svchost.exe ×N, spoolsv.exe; explorer.exe's parent userinit.exe has
//   exited (a parent PID that no longer exists).
// - Vista/7/10: smss.exe starts a copy of itself per session that exits after starting
//   csrss.exe and wininit.exe (session 0) or csrss.exe and winlogon.exe (session 1), so
//   those have a parent PID without a process; wininit.exe → services.exe, lsass.exe
//   (and lsm.exe on 7); explorer.exe again has an exited userinit.exe as parent.
// - Windows 10 adds the minimal processes "Registry" and "MemCompression" (children of
//   System, no user-mode address space of their own) and fontdrvhost/dwm under the
//   session managers.
import type { WindowsBuildName } from './builds.js';

export type ProcKind = 'system' | 'minimal' | 'native' | 'service' | 'user';

export interface Program {
  /** Image file name (what EPROCESS.ImageFileName holds, before truncation). */
  readonly name: string;
  readonly path: string;
  readonly args: string;
  readonly kind: ProcKind;
  /** Who starts it: a name of an earlier core entry, 'ghost:<n>' (an exited process), or 'System'. */
  readonly parent: string;
  /** Session: undefined = none (System, minimal, smss), else 0 or 1. */
  readonly session: number | undefined;
  /** Image base hint: 'system' images (shipped with Windows) or 'third' (third party). */
  readonly image: 'system' | 'third';
  /** May a rootkit hide this one? (Not the processes the system cannot run without.) */
  readonly hideable: boolean;
}

function p(name: string, path: string, args: string, kind: ProcKind, parent: string, session: number | undefined, hideable = false, image: 'system' | 'third' = 'system'): Program {
  return { name, path, args, kind, parent, session, image, hideable };
}

const XP_SYS = 'C:\\WINDOWS\\system32';
const SYS = 'C:\\Windows\\System32';
const PF = 'C:\\Program Files';

/** The boot chain and resident services, in creation order. */
export function coreChain(build: WindowsBuildName): Program[] {
  if (build === 'winxpsp2x86') {
    return [
      p('System', '', '', 'system', '', undefined),
      p('smss.exe', '\\SystemRoot\\System32\\smss.exe', '', 'native', 'System', undefined),
      p('csrss.exe', `${XP_SYS}\\csrss.exe`, 'ObjectDirectory=\\Windows SharedSection=1024,3072,512 Windows=On SubSystemType=Windows ServerDll=basesrv,1 ServerDll=winsrv:UserServerDllInitialization,3 ServerDll=winsrv:ConServerDllInitialization,2 ProfileControl=Off MaxRequestThreads=16', 'native', 'smss.exe', 0),
      p('winlogon.exe', `${XP_SYS}\\winlogon.exe`, '', 'native', 'smss.exe', 0),
      p('services.exe', `${XP_SYS}\\services.exe`, '', 'service', 'winlogon.exe', 0),
      p('lsass.exe', `${XP_SYS}\\lsass.exe`, '', 'service', 'winlogon.exe', 0),
      p('svchost.exe', `${XP_SYS}\\svchost.exe`, '-k DcomLaunch', 'service', 'services.exe', 0),
      p('svchost.exe', `${XP_SYS}\\svchost.exe`, '-k rpcss', 'service', 'services.exe', 0, true),
      p('svchost.exe', `C:\\WINDOWS\\System32\\svchost.exe`, '-k netsvcs', 'service', 'services.exe', 0, true),
      p('svchost.exe', `${XP_SYS}\\svchost.exe`, '-k NetworkService', 'service', 'services.exe', 0, true),
      p('svchost.exe', `${XP_SYS}\\svchost.exe`, '-k LocalService', 'service', 'services.exe', 0, true),
      p('spoolsv.exe', `${XP_SYS}\\spoolsv.exe`, '', 'service', 'services.exe', 0, true),
      p('explorer.exe', 'C:\\WINDOWS\\Explorer.EXE', '', 'user', 'ghost:userinit', 0, true),
      p('alg.exe', `${XP_SYS}\\alg.exe`, '', 'service', 'services.exe', 0, true),
      p('wscntfy.exe', `${XP_SYS}\\wscntfy.exe`, '', 'user', 'svchost.exe', 0, true),
      p('ctfmon.exe', `${XP_SYS}\\ctfmon.exe`, '', 'user', 'explorer.exe', 0, true),
      p('wuauclt.exe', `${XP_SYS}\\wuauclt.exe`, '', 'user', 'svchost.exe', 0, true),
    ];
  }
  const win7 = build === 'win7sp1x64';
  const chain: Program[] = [
    p('System', '', '', 'system', '', undefined),
    ...(win7 ? [] : [p('Registry', '', '', 'minimal', 'System', undefined)]),
    p('smss.exe', '\\SystemRoot\\System32\\smss.exe', '', 'native', 'System', undefined),
    p('csrss.exe', `${SYS}\\csrss.exe`, 'ObjectDirectory=\\Windows SharedSection=1024,20480,768 Windows=On SubSystemType=Windows ServerDll=basesrv,1 ServerDll=winsrv:UserServerDllInitialization,3 ServerDll=sxssrv,4 ProfileControl=Off MaxRequestThreads=16', 'native', 'ghost:smss0', 0),
    p('wininit.exe', `${SYS}\\wininit.exe`, '', 'native', 'ghost:smss0', 0),
    p('csrss.exe', `${SYS}\\csrss.exe`, 'ObjectDirectory=\\Windows SharedSection=1024,20480,768 Windows=On SubSystemType=Windows ServerDll=basesrv,1 ServerDll=winsrv:UserServerDllInitialization,3 ServerDll=sxssrv,4 ProfileControl=Off MaxRequestThreads=16', 'native', 'ghost:smss1', 1),
    p('winlogon.exe', `${SYS}\\winlogon.exe`, '', 'native', 'ghost:smss1', 1),
    p('services.exe', `${SYS}\\services.exe`, '', 'service', 'wininit.exe', 0),
    p('lsass.exe', `${SYS}\\lsass.exe`, '', 'service', 'wininit.exe', 0),
    ...(win7 ? [p('lsm.exe', `${SYS}\\lsm.exe`, '', 'service', 'wininit.exe', 0)] : [p('fontdrvhost.exe', `${SYS}\\fontdrvhost.exe`, '', 'service', 'wininit.exe', 0, true)]),
    p('svchost.exe', `${SYS}\\svchost.exe`, win7 ? '-k DcomLaunch' : '-k DcomLaunch -p', 'service', 'services.exe', 0),
    p('svchost.exe', `${SYS}\\svchost.exe`, win7 ? '-k RPCSS' : '-k RPCSS -p', 'service', 'services.exe', 0, true),
    p('svchost.exe', `${SYS}\\svchost.exe`, win7 ? '-k LocalServiceNetworkRestricted' : '-k LocalServiceNetworkRestricted -p', 'service', 'services.exe', 0, true),
    p('svchost.exe', `${SYS}\\svchost.exe`, win7 ? '-k netsvcs' : '-k netsvcs -p', 'service', 'services.exe', 0, true),
    p('svchost.exe', `${SYS}\\svchost.exe`, '-k LocalService', 'service', 'services.exe', 0, true),
    p('svchost.exe', `${SYS}\\svchost.exe`, '-k NetworkService', 'service', 'services.exe', 0, true),
    ...(win7 ? [] : [p('MemCompression', '', '', 'minimal', 'System', undefined)]),
    p('spoolsv.exe', `${SYS}\\spoolsv.exe`, '', 'service', 'services.exe', 0, true),
    p('svchost.exe', `${SYS}\\svchost.exe`, win7 ? '-k LocalSystemNetworkRestricted' : '-k LocalSystemNetworkRestricted -p', 'service', 'services.exe', 0, true),
    ...(win7
      ? [p('taskhost.exe', `${SYS}\\taskhost.exe`, '', 'user', 'services.exe', 1, true), p('dwm.exe', `${SYS}\\Dwm.exe`, '', 'user', 'svchost.exe', 1, true)]
      : [p('dwm.exe', `${SYS}\\dwm.exe`, '', 'user', 'winlogon.exe', 1), p('sihost.exe', `${SYS}\\sihost.exe`, '', 'user', 'svchost.exe', 1, true), p('taskhostw.exe', `${SYS}\\taskhostw.exe`, '{222A245B-E637-4AE9-A93F-A59CA119A75E}', 'user', 'svchost.exe', 1, true)]),
    p('explorer.exe', 'C:\\Windows\\Explorer.EXE', '', 'user', 'ghost:userinit', 1, true),
    ...(win7
      ? [p('SearchIndexer.exe', `${SYS}\\SearchIndexer.exe`, '/Embedding', 'service', 'services.exe', 0, true)]
      : [
          p('SearchApp.exe', 'C:\\Windows\\SystemApps\\Microsoft.Windows.Search_cw5n1h2txyewy\\SearchApp.exe', '-ServerName:CortanaUI.AppX8z9r6jm96hw4bsbneegw0kyxx296wr9t.mca', 'user', 'svchost.exe', 1, true),
          p('RuntimeBroker.exe', `${SYS}\\RuntimeBroker.exe`, '-Embedding', 'user', 'svchost.exe', 1, true),
          p('MsMpEng.exe', 'C:\\ProgramData\\Microsoft\\Windows Defender\\platform\\4.18.2009.7-0\\MsMpEng.exe', '', 'service', 'services.exe', 0, false, 'third'),
          p('SecurityHealthService.exe', `${SYS}\\SecurityHealthService.exe`, '', 'service', 'services.exe', 0, true),
          p('ctfmon.exe', `${SYS}\\ctfmon.exe`, '', 'user', 'svchost.exe', 1, true),
        ]),
  ];
  return chain;
}

/** User programs a user starts from the shell (parent explorer.exe), drawn to fill --procs. */
export function userPrograms(build: WindowsBuildName): Program[] {
  const xp = build === 'winxpsp2x86';
  const sys = xp ? XP_SYS : SYS;
  const s = xp ? 0 : 1;
  const u = (name: string, path: string, args = '', image: 'system' | 'third' = 'third') => p(name, path, args, 'user', 'explorer.exe', s, true, image);
  const common = [
    u('notepad.exe', `${sys}\\notepad.exe`, '', 'system'),
    u('cmd.exe', `${sys}\\cmd.exe`, '', 'system'),
    u('calc.exe', `${sys}\\calc.exe`, '', 'system'),
    u('mspaint.exe', `${sys}\\mspaint.exe`, '', 'system'),
    u('taskmgr.exe', `${sys}\\taskmgr.exe`, '', 'system'),
    u('regedit.exe', xp ? 'C:\\WINDOWS\\regedit.exe' : 'C:\\Windows\\regedit.exe', '', 'system'),
    u('WINWORD.EXE', `${PF}\\Microsoft Office\\${xp ? 'OFFICE11' : 'Office14'}\\WINWORD.EXE`, '/n'),
    u('EXCEL.EXE', `${PF}\\Microsoft Office\\${xp ? 'OFFICE11' : 'Office14'}\\EXCEL.EXE`),
    u('AcroRd32.exe', `${PF}\\Adobe\\Reader ${xp ? '8.0' : '10.0'}\\Reader\\AcroRd32.exe`),
    u('putty.exe', `${PF}\\PuTTY\\putty.exe`),
    u('vlc.exe', `${PF}\\VideoLAN\\VLC\\vlc.exe`),
    u('7zFM.exe', `${PF}\\7-Zip\\7zFM.exe`),
  ];
  if (xp) {
    return [
      ...common,
      u('iexplore.exe', `${PF}\\Internet Explorer\\iexplore.exe`, '', 'system'),
      u('firefox.exe', `${PF}\\Mozilla Firefox\\firefox.exe`),
      u('msmsgs.exe', `${PF}\\Messenger\\msmsgs.exe`, '/background', 'system'),
      u('wordpad.exe', `${PF}\\Windows NT\\Accessories\\wordpad.exe`, '', 'system'),
      u('jusched.exe', `${PF}\\Java\\jre1.6.0_03\\bin\\jusched.exe`),
      u('OUTLOOK.EXE', `${PF}\\Microsoft Office\\OFFICE11\\OUTLOOK.EXE`),
      u('winamp.exe', `${PF}\\Winamp\\winamp.exe`),
    ];
  }
  return [
    ...common,
    u('powershell.exe', `${sys}\\WindowsPowerShell\\v1.0\\powershell.exe`, '', 'system'),
    u('mmc.exe', `${sys}\\mmc.exe`, `"${sys}\\compmgmt.msc"`, 'system'),
    u(build === 'win7sp1x64' ? 'iexplore.exe' : 'msedge.exe', build === 'win7sp1x64' ? `${PF}\\Internet Explorer\\iexplore.exe` : 'C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe', '', 'system'),
    u('chrome.exe', 'C:\\Program Files (x86)\\Google\\Chrome\\Application\\chrome.exe'),
    u('firefox.exe', `${PF}\\Mozilla Firefox\\firefox.exe`),
    u('Teams.exe', 'C:\\Users\\user\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe'),
    u('OUTLOOK.EXE', `${PF}\\Microsoft Office\\Office14\\OUTLOOK.EXE`),
    u('Code.exe', 'C:\\Users\\user\\AppData\\Local\\Programs\\Microsoft VS Code\\Code.exe'),
    u('KeePass.exe', `${PF}\\KeePass Password Safe 2\\KeePass.exe`),
    u('OneDrive.exe', 'C:\\Users\\user\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe', '/background'),
  ];
}

/** Programs that ran briefly and exited before the dump (installers, helpers, one-off tools). */
export function shortLived(build: WindowsBuildName): Program[] {
  const xp = build === 'winxpsp2x86';
  const sys = xp ? XP_SYS : SYS;
  const s = xp ? 0 : 1;
  const e = (name: string, args = '', parent = 'explorer.exe') => p(name, `${sys}\\${name}`, args, 'user', parent, s, false);
  const list = [
    e('cmd.exe', '/c "C:\\temp\\run.bat"'),
    e('rundll32.exe', 'shell32.dll,Control_RunDLL'),
    e('ipconfig.exe', '/all', 'cmd.exe'),
    e('net.exe', 'use', 'cmd.exe'),
    e('ping.exe', '-n 4 8.8.8.8', 'cmd.exe'),
    e('msiexec.exe', '/V', 'services.exe'),
    e('dllhost.exe', '/Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}', 'svchost.exe'),
    e('wmiprvse.exe', '-secured -Embedding', 'svchost.exe'),
    e('regsvr32.exe', '/s C:\\temp\\x.dll'),
    e('notepad.exe', 'C:\\temp\\readme.txt'),
  ];
  if (!xp) list.push(e('conhost.exe', '0xffffffff -ForceV1', 'cmd.exe'), e('WerFault.exe', '-u -p 3412 -s 1204', 'svchost.exe'), e('consent.exe', '', 'svchost.exe'), e('taskeng.exe', '', 'svchost.exe'));
  return list;
}
