#!/usr/bin/env bash
# Integration checks of the compose network with dcm4che's tool kit, a
# third-party DICOM client: `docker compose --profile tools run --rm checks`.
#
# C-ECHO to every DIMSE node; C-STORE of a small Secondary Capture image to the
# PACS; C-FIND (study root) for it; C-MOVE of its study to the AI node's
# storage SCP (FOVEA_AI); C-GET of the study back; MWL C-FIND and MPPS
# N-CREATE/N-SET at the worklist, calling as the station. Each tool exits
# non-zero when the association or the request fails, which stops the script.
set -euo pipefail

PACS="FOVEA_PACS@${PACS_HOST:-pacs}:${PACS_PORT:-11112}"
WORKLIST="FOVEA_MWL@${WORKLIST_HOST:-worklist}:${WORKLIST_PORT:-11113}"
AI="FOVEA_AI@${AI_HOST:-ai}:${AI_PORT:-11114}"
VIEWER_AET=WEASIS_AE    # a caller the PACS accepts
STATION_AET=FUNDUS_CAM1 # the caller the worklist accepts
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

step() { printf '\n== %s\n' "$*"; }

# UIDs under 2.25 (PS3.5 B.2), unique per run.
stamp="$(date +%s)$$"
study_uid="2.25.${stamp}1"
series_uid="2.25.${stamp}2"
sop_uid="2.25.${stamp}3"

attribute() {  # tag vr keyword value
  printf '<DicomAttribute tag="%s" vr="%s" keyword="%s"><Value number="1">%s</Value></DicomAttribute>\n' "$@"
}

# An 8x8 MONOCHROME2 Secondary Capture image (PS3.3 A.8.1), in the Native
# DICOM Model XML (PS3.19) that xml2dcm turns into a Part 10 file.
{
  echo '<?xml version="1.0" encoding="UTF-8"?>'
  echo '<NativeDicomModel>'
  attribute 00080016 UI SOPClassUID 1.2.840.10008.5.1.4.1.1.7
  attribute 00080018 UI SOPInstanceUID "$sop_uid"
  attribute 00080020 DA StudyDate "$(date +%Y%m%d)"
  attribute 00080050 SH AccessionNumber "CHECK${stamp: -8}"
  attribute 00080060 CS Modality OT
  attribute 00080064 CS ConversionType WSD
  echo '<DicomAttribute tag="00100010" vr="PN" keyword="PatientName"><PersonName number="1"><Alphabetic><FamilyName>Check</FamilyName><GivenName>Compose</GivenName></Alphabetic></PersonName></DicomAttribute>'
  attribute 00100020 LO PatientID "CHECK-${stamp}"
  attribute 0020000D UI StudyInstanceUID "$study_uid"
  attribute 0020000E UI SeriesInstanceUID "$series_uid"
  attribute 00200010 SH StudyID 1
  attribute 00200011 IS SeriesNumber 1
  attribute 00200013 IS InstanceNumber 1
  attribute 00280002 US SamplesPerPixel 1
  attribute 00280004 CS PhotometricInterpretation MONOCHROME2
  attribute 00280010 US Rows 8
  attribute 00280011 US Columns 8
  attribute 00280100 US BitsAllocated 8
  attribute 00280101 US BitsStored 8
  attribute 00280102 US HighBit 7
  attribute 00280103 US PixelRepresentation 0
  # 64 bytes of zeros.
  echo '<DicomAttribute tag="7FE00010" vr="OB" keyword="PixelData"><InlineBinary>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==</InlineBinary></DicomAttribute>'
  echo '</NativeDicomModel>'
} > "$WORK/sample.xml"
xml2dcm --fmi -x "$WORK/sample.xml" -o "$WORK/sample.dcm"

step "C-ECHO"
storescu -b "$VIEWER_AET" -c "$PACS"
storescu -b "$STATION_AET" -c "$WORKLIST"
storescu -b "FOVEA_PACS" -c "$AI"

step "C-STORE to the PACS"
storescu -b "$VIEWER_AET" -c "$PACS" "$WORK/sample.dcm"

step "C-FIND (study root) on the PACS"
findscu -b "$VIEWER_AET" -c "$PACS" -M StudyRoot -L STUDY \
  -m StudyInstanceUID="$study_uid" -r PatientID -r NumberOfStudyRelatedInstances \
  --out-dir "$WORK/find"
test -n "$(ls -A "$WORK/find")"   # at least one match

step "C-MOVE of the study to the AI node (FOVEA_AI)"
movescu -b "$VIEWER_AET" -c "$PACS" -M StudyRoot -L STUDY \
  -m StudyInstanceUID="$study_uid" --dest FOVEA_AI

step "C-GET of the study from the PACS"
getscu -b "$VIEWER_AET" -c "$PACS" -M StudyRoot -L STUDY \
  -m StudyInstanceUID="$study_uid" --directory "$WORK/get"
test -n "$(ls -A "$WORK/get")"    # the image came back

step "MWL C-FIND at the worklist"
findscu -b "$STATION_AET" -c "$WORKLIST" -M MWL \
  -m ScheduledProcedureStepSequence/Modality=OP \
  -m ScheduledProcedureStepSequence/ScheduledStationAETitle="$STATION_AET"

step "MPPS N-CREATE and N-SET (COMPLETED) at the worklist"
mppsscu -b "$STATION_AET" -c "$WORKLIST" "$WORK/sample.dcm"

printf '\nall dcm4che checks passed\n'
