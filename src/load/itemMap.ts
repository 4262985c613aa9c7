/**
 * Variable -> MIMIC-III ITEMID, for the MIMIC-shaped export (CHARTEVENTS / LABEVENTS / OUTPUTEVENTS)
 * and the LOINC codes of the FHIR export.
 *
 * Derived from itemid_to_variable_map.csv of mimic3-benchmarks (MIT license; Harutyunyan et al.,
 * "Multitask learning and benchmarking with clinical time series data", Sci Data 2019), as extended
 * by SynEHRgy (Karami et al., arXiv 2411.13428): for each LEVEL2 variable, the curated row (STATUS
 * ready/verify/verify2) with the highest COUNT, except where that row's unit differs from the one
 * our data sets use (Temperature: 676 "Temperature C", not 678 "Temperature F"; Weight: 3580 kg;
 * Height: 226730 cm; Prothrombin time: 51274 PT, not INR). LOINC codes of lab items are the map's
 * LOINC_CODE column (un-mangled where a spreadsheet had turned "1742-6" into "6/1/1742"); those of
 * vital signs are the standard LOINC vital-sign codes (US Core), added by hand.
 */
export type MimicEventTable = 'chartevents' | 'labevents' | 'outputevents';

export interface MimicItem {
  itemid: number;
  table: MimicEventTable;
  /** MIMIC's own label of the item (D_ITEMS.LABEL / D_LABITEMS.LABEL) */
  label: string;
  loinc?: string;
}

/** By mimic3-benchmarks' LEVEL2 variable name, the names the MIMIC-III data config uses. */
export const MIMIC_ITEMS: Readonly<Record<string, MimicItem>> = {
  'Alanine aminotransferase': { itemid: 50861, table: 'labevents', label: 'ALANINE AMINOTRANSFERASE (ALT)', loinc: '1742-6' },
  'Albumin': { itemid: 50862, table: 'labevents', label: 'ALBUMIN', loinc: '1751-7' },
  'Alkaline phosphate': { itemid: 50863, table: 'labevents', label: 'ALKALINE PHOSPHATASE', loinc: '6768-6' },
  'Anion gap': { itemid: 50868, table: 'labevents', label: 'ANION GAP', loinc: '1863-0' },
  'Asparate aminotransferase': { itemid: 50878, table: 'labevents', label: 'ASPARATE AMINOTRANSFERASE (AST)', loinc: '1920-8' },
  'Basophils': { itemid: 51146, table: 'labevents', label: 'BASOPHILS', loinc: '704-7' },
  'Bicarbonate': { itemid: 50882, table: 'labevents', label: 'BICARBONATE', loinc: '1963-8' },
  'Bilirubin': { itemid: 50885, table: 'labevents', label: 'BILIRUBIN, TOTAL', loinc: '1975-2' },
  'Blood urea nitrogen': { itemid: 51006, table: 'labevents', label: 'UREA NITROGEN', loinc: '3094-0' },
  'Calcium': { itemid: 50893, table: 'labevents', label: 'CALCIUM, TOTAL', loinc: '2000-8' },
  'Capillary refill rate': { itemid: 3348, table: 'chartevents', label: 'Capillary Refill' },
  'Chloride': { itemid: 50902, table: 'labevents', label: 'CHLORIDE', loinc: '2075-0' },
  'Creatinine': { itemid: 50912, table: 'labevents', label: 'CREATININE', loinc: '2160-0' },
  'Diastolic blood pressure': { itemid: 8368, table: 'chartevents', label: 'Arterial BP [Diastolic]', loinc: '8462-4' },
  'Fraction inspired oxygen': { itemid: 3420, table: 'chartevents', label: 'FIO2' },
  'Glascow coma scale eye opening': { itemid: 184, table: 'chartevents', label: 'Eye Opening' },
  'Glascow coma scale motor response': { itemid: 454, table: 'chartevents', label: 'Motor Response' },
  'Glascow coma scale total': { itemid: 198, table: 'chartevents', label: 'GCS Total', loinc: '9269-2' },
  'Glascow coma scale verbal response': { itemid: 723, table: 'chartevents', label: 'Verbal Response' },
  'Glucose': { itemid: 50931, table: 'labevents', label: 'GLUCOSE', loinc: '2345-7' },
  'Heart Rate': { itemid: 211, table: 'chartevents', label: 'Heart Rate', loinc: '8867-4' },
  'Height': { itemid: 226730, table: 'chartevents', label: 'Height (cm)', loinc: '8302-2' },
  'Hematocrit': { itemid: 51221, table: 'labevents', label: 'HEMATOCRIT', loinc: '4544-3' },
  'Hemoglobin': { itemid: 51222, table: 'labevents', label: 'HEMOGLOBIN', loinc: '718-7' },
  'Lactate': { itemid: 50813, table: 'labevents', label: 'LACTATE', loinc: '32693-4' },
  'Lymphocytes': { itemid: 51244, table: 'labevents', label: 'LYMPHOCYTES', loinc: '731-0' },
  'Magnesium': { itemid: 50960, table: 'labevents', label: 'MAGNESIUM', loinc: '2601-3' },
  'Mean blood pressure': { itemid: 52, table: 'chartevents', label: 'Arterial BP Mean', loinc: '8478-0' },
  'Mean corpuscular volume': { itemid: 51250, table: 'labevents', label: 'MCV', loinc: '787-2' },
  'Monocytes': { itemid: 51254, table: 'labevents', label: 'MONOCYTES', loinc: '742-7' },
  'Neutrophils': { itemid: 51256, table: 'labevents', label: 'NEUTROPHILS', loinc: '761-7' },
  'Oxygen saturation': { itemid: 646, table: 'chartevents', label: 'SpO2', loinc: '2708-6' },
  'Partial pressure of carbon dioxide': { itemid: 50818, table: 'labevents', label: 'PCO2', loinc: '11557-6' },
  'Partial pressure of oxygen': { itemid: 779, table: 'chartevents', label: 'Arterial PaO2' },
  'Phosphate': { itemid: 50970, table: 'labevents', label: 'PHOSPHATE', loinc: '2777-1' },
  'Platelets': { itemid: 51265, table: 'labevents', label: 'PLATELET COUNT', loinc: '777-3' },
  'Potassium': { itemid: 50971, table: 'labevents', label: 'POTASSIUM', loinc: '2823-3' },
  'Prothrombin time': { itemid: 51274, table: 'labevents', label: 'PT', loinc: '5902-2' },
  'Red blood cell count': { itemid: 51279, table: 'labevents', label: 'RED BLOOD CELLS', loinc: '789-8' },
  'Respiratory rate': { itemid: 618, table: 'chartevents', label: 'Respiratory Rate', loinc: '9279-1' },
  'Sodium': { itemid: 50983, table: 'labevents', label: 'SODIUM', loinc: '2951-2' },
  'Systolic blood pressure': { itemid: 51, table: 'chartevents', label: 'Arterial BP [Systolic]', loinc: '8480-6' },
  'Temperature': { itemid: 676, table: 'chartevents', label: 'Temperature C', loinc: '8310-5' },
  'Troponin-I': { itemid: 51002, table: 'labevents', label: 'TROPONIN I', loinc: '10839-9' },
  'Troponin-T': { itemid: 51003, table: 'labevents', label: 'TROPONIN T', loinc: '6598-7' },
  'Urine output': { itemid: 40055, table: 'outputevents', label: 'Urine Out Foley' },
  'Weight': { itemid: 3580, table: 'chartevents', label: 'Present Weight  (kg)', loinc: '29463-7' },
  'White blood cell count': { itemid: 51301, table: 'labevents', label: 'WHITE BLOOD CELLS', loinc: '804-5' },
  'pH': { itemid: 50820, table: 'labevents', label: 'PH', loinc: '11558-4' },
  'Cholesterol': { itemid: 50907, table: 'labevents', label: 'CHOLESTEROL, TOTAL', loinc: '2093-3' },
};

/**
 * PhysioNet 2012 parameter names -> the same items. Non-invasive blood pressures and SaO2 get their
 * own MIMIC items (NBP, SaO2), as in the map, rather than the arterial line's.
 */
const PHYSIONET_2012: Readonly<Record<string, MimicItem>> = {
  ALP: MIMIC_ITEMS['Alkaline phosphate']!,
  ALT: MIMIC_ITEMS['Alanine aminotransferase']!,
  AST: MIMIC_ITEMS['Asparate aminotransferase']!,
  Albumin: MIMIC_ITEMS['Albumin']!,
  BUN: MIMIC_ITEMS['Blood urea nitrogen']!,
  Bilirubin: MIMIC_ITEMS['Bilirubin']!,
  Cholesterol: MIMIC_ITEMS['Cholesterol']!,
  Creatinine: MIMIC_ITEMS['Creatinine']!,
  DiasABP: MIMIC_ITEMS['Diastolic blood pressure']!,
  FiO2: MIMIC_ITEMS['Fraction inspired oxygen']!,
  GCS: MIMIC_ITEMS['Glascow coma scale total']!,
  Glucose: MIMIC_ITEMS['Glucose']!,
  HCO3: MIMIC_ITEMS['Bicarbonate']!,
  HCT: MIMIC_ITEMS['Hematocrit']!,
  HR: MIMIC_ITEMS['Heart Rate']!,
  Height: MIMIC_ITEMS['Height']!,
  K: MIMIC_ITEMS['Potassium']!,
  Lactate: MIMIC_ITEMS['Lactate']!,
  MAP: MIMIC_ITEMS['Mean blood pressure']!,
  Mg: MIMIC_ITEMS['Magnesium']!,
  NIDiasABP: { itemid: 8441, table: 'chartevents', label: 'NBP [Diastolic]', loinc: '8462-4' },
  NIMAP: { itemid: 456, table: 'chartevents', label: 'NBP Mean', loinc: '8478-0' },
  NISysABP: { itemid: 455, table: 'chartevents', label: 'NBP [Systolic]', loinc: '8480-6' },
  Na: MIMIC_ITEMS['Sodium']!,
  PaCO2: MIMIC_ITEMS['Partial pressure of carbon dioxide']!,
  PaO2: MIMIC_ITEMS['Partial pressure of oxygen']!,
  Platelets: MIMIC_ITEMS['Platelets']!,
  RespRate: MIMIC_ITEMS['Respiratory rate']!,
  SaO2: { itemid: 834, table: 'chartevents', label: 'SaO2', loinc: '2708-6' },
  SysABP: MIMIC_ITEMS['Systolic blood pressure']!,
  Temp: MIMIC_ITEMS['Temperature']!,
  TroponinI: MIMIC_ITEMS['Troponin-I']!,
  TroponinT: MIMIC_ITEMS['Troponin-T']!,
  Urine: MIMIC_ITEMS['Urine output']!,
  WBC: MIMIC_ITEMS['White blood cell count']!,
  Weight: MIMIC_ITEMS['Weight']!,
  pH: MIMIC_ITEMS['pH']!,
};

const byLowerName = new Map(Object.entries(MIMIC_ITEMS).map(([k, v]) => [k.toLowerCase(), v]));

/**
 * ITEMIDs handed to variables that neither table knows: a range MIMIC-III does not use (its
 * largest ITEMID is below 230000), so an exported row never claims to be a real MIMIC item.
 */
export const FIRST_LOCAL_ITEMID = 900_000;

/** The MIMIC item of a variable: a LEVEL2 name (any case), a PhysioNet 2012 parameter, or undefined. */
export function knownMimicItem(variable: string): MimicItem | undefined {
  return MIMIC_ITEMS[variable] ?? PHYSIONET_2012[variable] ?? byLowerName.get(variable.toLowerCase());
}

/**
 * Resolves every variable of an export once: known ones to their MIMIC item, the others to local
 * ITEMIDs from FIRST_LOCAL_ITEMID up, in sorted order so that the same variables get the same ids.
 */
export function resolveItems(variables: Iterable<string>): Map<string, MimicItem & { local: boolean }> {
  const out = new Map<string, MimicItem & { local: boolean }>();
  let next = FIRST_LOCAL_ITEMID;
  for (const v of [...new Set(variables)].sort()) {
    const known = knownMimicItem(v);
    out.set(v, known ? { ...known, local: false } : { itemid: next++, table: 'chartevents', label: v, local: true });
  }
  return out;
}
